"""One module per task. Each defines `Config` (a `zoo.task.TaskConfig` dataclass) and `Task` (a `zoo.task.Task`)."""
import importlib
import pkgutil


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def module(name: str):
    return importlib.import_module(f"{__name__}.{name}")
