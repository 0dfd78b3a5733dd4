"""The task registry. A task is a `Config` (a `zoo.task.TaskConfig` dataclass) and a `Task` (a `zoo.task.Task`):
one module of this package each, found by name, or a pair registered from elsewhere (a notebook, a test) with
`register`."""
import importlib
import pkgutil
from pathlib import Path
from types import SimpleNamespace

from omegaconf import DictConfig, OmegaConf

RENAMED = {"frames": "pos"}  # an old task name -> its name now; the old one still works (and old run folders load)
_REGISTERED = {}  # tasks defined outside this package: name -> a namespace with Config and Task


def names() -> list[str]:
    return sorted([m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")] + list(_REGISTERED))


def module(name: str):
    """The task's module (or namespace): its `Config` and `Task`."""
    name = RENAMED.get(name, name)
    return _REGISTERED.get(name) or importlib.import_module(f"{__name__}.{name}")


def register(config: type, task: type) -> None:
    """Make a task defined outside this package `task=<name>` (its Config's `name`), as a module here would be; its
    settings' defaults are its Config's (a module here has conf/task/<name>.yaml as well)."""
    from hydra.core.config_store import ConfigStore

    name = config.name
    _REGISTERED[name] = SimpleNamespace(Config=config, Task=task)
    store = ConfigStore.instance()
    store.store(group="schema/task", name=name, node=config)
    store.store(group="task", name=name, node=config)


def unregister(name: str) -> None:
    from hydra.core.config_store import ConfigStore

    _REGISTERED.pop(name, None)
    repo = ConfigStore.instance().repo
    for group in (repo.get("schema", {}).get("task", {}), repo.get("task", {})):
        group.pop(f"{name}.yaml", None)


def create(cfg: DictConfig):
    """The `Task` of a run config (composed, or read back from a run folder): its `task` settings checked
    against the task's `Config`, `paths.data_dir` and `seed`."""
    task = module(cfg.task.name)
    settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(task.Config), cfg.task))
    return task.Task(settings, Path(cfg.paths.data_dir), cfg.seed)
