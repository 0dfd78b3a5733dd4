import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import tasks
import zoo  # noqa: F401  (quiet TensorFlow before it loads)
from zoo.config import Attention, ModelConfig, Pooling, register

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
# without XLA: compiling each short run's few batch shapes costs more than it saves (tests that are about XLA ask)
TINY = ["model.units=8", "model.embedding_dim=8", "trainer.batch_size=16", "trainer.verbose=0",
        "trainer.jit_compile=false", f"paths.data_dir={TEST_DATA}"]

register()


def model_config(**overrides) -> ModelConfig:
    """A small model config for building topologies directly (the CLI's values live in conf/model/)."""
    defaults = dict(units=16, layers=1, bidirectional=False, dropout=0.0, word_dropout=0.0, bigram_buckets=0,
                    bigram_dropout=0.0, embedding_dim=8, char_units=8, attention=Attention.none, pooling=Pooling.last,
                    unroll=False)
    return ModelConfig(**{**defaults, **overrides})


@pytest.fixture
def make_config():
    def make(*overrides: str):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose("config", overrides=[*TINY, *overrides])

    return make


@pytest.fixture
def zoo_cli(tmp_path):
    """Run `python -m zoo ...` (or another module) in a scratch folder (its outputs/ lands there); returns the
    CompletedProcess."""

    def cli(*args: str, module: str | None = "zoo", timeout: float = 300) -> subprocess.CompletedProcess:
        """`module=None` runs the interpreter with `args` alone (e.g. "-c", code)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
        command = [sys.executable, *(["-m", module] if module else []), *args]
        return subprocess.run(command, cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return cli


@pytest.fixture
def error_line(capsys):
    """Call a command's `main(args)` that must fail: it exits 1 with one stderr line and no stdout; returns the line."""

    def call(main, *args) -> str:
        with pytest.raises(SystemExit) as exit_:
            main([str(arg) for arg in args])
        captured = capsys.readouterr()
        assert exit_.value.code == 1 and captured.out == "" and len(captured.err.splitlines()) == 1
        return captured.err.strip()

    return call


QUICK = ["trainer.epochs=1", "trainer.limit_batches=3"]
TASKS = {name: list(tasks.module(name).Task.smoke_test) for name in tasks.names()}  # task -> a short run's settings


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """task -> the folder of a short finished run of it, trained once for all test workers."""
    from filelock import FileLock

    from zoo import runs
    from zoo.runner import run

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "trained_runs"  # one per session

    def get(task: str):
        folder = shared / task
        with FileLock(f"{folder}.lock"):
            if not (folder / runs.PREDICTOR).exists():
                with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                    cfg = compose("config", overrides=[*TINY, f"task={task}", *QUICK, *TASKS[task]])
                folder.mkdir(parents=True, exist_ok=True)
                run(cfg, folder)
        return folder

    return get
