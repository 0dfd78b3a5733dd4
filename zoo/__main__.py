"""`python -m zoo task=imdb cell=gru`: train and evaluate one configuration (or a sweep with -m)."""
import os
import shutil
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from zoo import resume
from zoo.config import register, renamed
from zoo.errors import ZooError
from zoo.rules import checked
from zoo.tracking import Job

register()
SHOW_TRACEBACKS = os.environ.get("HYDRA_FULL_ERROR") == "1"  # the user's choice, read before cli() sets it


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Returns the best epoch's validation primary metric: the objective of hyperparameter sweeps."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    plan = None  # a sweep's jobs are checked by the runner, which records a refused config in their metrics.json
    try:
        if hydra_cfg.mode == RunMode.RUN:
            try:
                plan = checked(cfg)  # settings and combination, answered before TensorFlow loads
            except ZooError:
                shutil.rmtree(run_dir)  # refused before anything ran: no run folder stays behind
                raise
            if cfg.trainer.resume == "auto" and (earlier := resume.earlier_run(run_dir, cfg)) is not None:
                shutil.rmtree(run_dir)  # this command's fresh folder: the earlier run goes on (or answers)
                run_dir = earlier
        from zoo.runner import run  # TensorFlow loads here

        job = Job(str(hydra_cfg.sweep.dir), hydra_cfg.job.num) if hydra_cfg.mode == RunMode.MULTIRUN else Job()
        record = run(cfg, run_dir, plan, job)
        return record["val"].get(record["primary_metric"])
    except Exception as error:
        if SHOW_TRACEBACKS:
            raise
        if not isinstance(error, ZooError) and run_dir.is_dir():  # a bug, not bad input: keep the traceback
            (run_dir / "traceback.txt").write_text(traceback.format_exc())
        print(f"error: {error}", file=sys.stderr)
        if hydra_cfg.mode == RunMode.RUN:
            sys.exit(1)
        # in a sweep the failure is recorded in the job's metrics.json and the next job runs


def one_line(error: Exception) -> str:
    """Hydra's and OmegaConf's multi-line config errors (unknown option, key or type) as one line."""
    text = str(error)
    line = text.strip().splitlines()[0].removeprefix("In 'config': ").rstrip(".")
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        line += ": " + str(cause).strip().splitlines()[0]
    if "Available options in" in text:
        listed = text.split("Available options in", 1)[1].split("Config search path", 1)[0].splitlines()[1:]
        line += "; available: " + ", ".join(option.strip() for option in listed if option.strip())
    return line


COMMANDS = {"predict": "zoo.predict", "evaluate": "zoo.evaluate", "export": "zoo.export", "compare": "zoo.compare",
            "diagnose": "zoo.diagnose", "bench": "zoo.bench"}  # `zoo predict ...` = `python -m zoo.predict ...`


def register_slurm_launcher() -> None:
    """The zoo's Slurm launcher installs as hydra_plugins.zoo, but Hydra's plugin scan does not see into an
    editable install: it is registered by hand, whichever way the launcher is chosen (the command line or a
    preset), wherever the sweep extra is installed."""
    from hydra.core.plugins import Plugins

    try:
        from hydra_plugins.zoo import SlurmLauncher
    except ImportError as e:
        if "hydra/launcher=slurm" in sys.argv[1:]:
            raise ZooError(f"hydra/launcher=slurm needs the sweep extra (pip install -e \".[sweep]\"): {e}") \
                from None
        return
    Plugins.instance().register(SlurmLauncher)


def cli() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        import runpy

        command = sys.argv.pop(1)
        sys.argv[0] = f"zoo {command}"
        runpy.run_module(COMMANDS[command], run_name="__main__")
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra then raises config errors to us instead of printing them
    try:
        sys.argv[1:] = renamed(resume.resume_arguments(sys.argv[1:]))
        register_slurm_launcher()
        main()
    except Exception as error:
        if SHOW_TRACEBACKS:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    cli()
