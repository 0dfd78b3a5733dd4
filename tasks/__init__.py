"""One module per task. Each defines `Config` (a `zoo.task.TaskConfig` dataclass) and `Task` (a `zoo.task.Task`)."""
import importlib
import pkgutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


RENAMED = {"frames": "pos"}  # an old task name -> its name now; the old one still works (and old run folders load)


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def module(name: str):
    return importlib.import_module(f"{__name__}.{RENAMED.get(name, name)}")


def create(cfg: DictConfig):
    """The `Task` of a run config (composed, or read back from a run folder): its `task` settings checked
    against the task's `Config`, `paths.data_dir` and `seed`."""
    task = module(cfg.task.name)
    settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(task.Config), cfg.task))
    return task.Task(settings, Path(cfg.paths.data_dir), cfg.seed)
