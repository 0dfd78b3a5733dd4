"""Heavy modules loaded on first use."""
import importlib.util
import sys


def lazy_import(name: str):
    """The module `name`, loaded on first attribute access. Task modules name TensorFlow, Keras and their other
    heavy libraries this way, so that importing them for their `Config` (Hydra's check of a command line) loads
    none of those."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
