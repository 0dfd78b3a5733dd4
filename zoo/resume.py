"""Where an interrupted or finished run lives, so that running the same command again continues it."""
from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from zoo.errors import ZooError

LOCK = ".lock"  # held by the process that trains in the folder
CHECKPOINT = "checkpoint"  # BackupAndRestore's folder: weights and optimizer state after the last finished epoch
RESUME = "trainer.resume="


def read_record(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_record(run_dir: Path, record: dict) -> None:
    (run_dir / "metrics.json").write_text(json.dumps(record, indent=2, default=float) + "\n")


@contextlib.contextmanager
def sole_writer(run_dir: Path, wait_seconds: float = 120):
    """Holds the run folder's lock while a process trains in it, so that two never write one folder: the same
    command started twice, or a job a cluster retries on another node while the first attempt's process, cut off
    from its lost node, has not yet died. The second waits for the lock up to `wait_seconds` (the kernel frees it
    when the holder dies), then is refused."""
    with open(run_dir / LOCK, "w") as lock:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ZooError(f"another process is training in {run_dir} (it holds {run_dir / LOCK}); "
                                   "let it finish, or stop it and run the command again") from None
                time.sleep(0.5)
        yield


def checkpointed_epochs(run_dir: Path) -> int:
    """Epochs an interrupted run finished before it stopped (0: nothing to resume)."""
    metadata = run_dir / CHECKPOINT / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0


def comparable(cfg: DictConfig) -> dict:
    """The settings that make a run what it is: where it is logged to is not one of them."""
    config = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    config["trainer"].pop("resume", None)
    config["trainer"].pop("tensorboard", None)  # the logger group's since run folders of layout 4
    config.pop("logger", None)
    return config


def earlier_run(run_dir: Path, cfg: DictConfig) -> Path | None:
    """The newest folder beside `run_dir` that ran this same config and either finished or can be resumed."""
    config = comparable(cfg)
    for folder in sorted(run_dir.parent.iterdir(), reverse=True):  # names are timestamps: newest first
        saved = folder / ".hydra" / "config.yaml"
        if folder == run_dir or not saved.exists() or comparable(OmegaConf.load(saved)) != config:
            continue
        if read_record(folder).get("status") == "ok" or checkpointed_epochs(folder):
            return folder
    return None


def resume_arguments(args: list[str]) -> list[str]:
    """`trainer.resume=<run folder>` becomes that run's own overrides, with Hydra writing into that folder."""
    folder = next((arg.removeprefix(RESUME) for arg in args if arg.startswith(RESUME)), None)
    if folder in (None, "auto", "new"):
        return args
    saved = Path(folder) / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ZooError(f"trainer.resume={folder} is not a run folder (it has no .hydra/overrides.yaml)")
    if {"-m", "--multirun"} & set(args):
        raise ZooError("trainer.resume=<run folder> continues one run; continue a sweep by running it again "
                       "with hydra.sweep.dir=<its folder>")
    original = [arg for arg in OmegaConf.load(saved) if not arg.startswith(RESUME)]
    others = [arg for arg in args if not arg.startswith(RESUME)]
    return [*original, *others, f"{RESUME}{folder}", f"hydra.run.dir={folder}"]
