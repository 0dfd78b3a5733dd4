"""The sequence-model zoo: SimpleRNN, LSTM and GRU in every RNN topology, on real tasks.

    import zoo
    record = zoo.train(["task=imdb", "cell=gru"])    # the config `python -m zoo task=imdb cell=gru` runs
    model = zoo.load(record["run"])                  # a finished run folder
    model.predict(["It was not great, but I recommend it."])
"""
import importlib.abc
import importlib.util
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the run log
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SHOW_TENSORFLOW_LOG = "1" in (os.environ.get("ZOO_TF_LOG"), os.environ.get("HYDRA_FULL_ERROR"))


class QuietTensorFlow(importlib.abc.MetaPathFinder):
    """TensorFlow's C++ start-up lines (absl, oneDNN, the CUDA stubs, CPU features) are written to file
    descriptor 2 before TF_CPP_MIN_LOG_LEVEL takes effect. Wherever TensorFlow is first imported, this finder
    points that descriptor at /dev/null while it loads, looks for GPUs and runs a first op, then puts it back;
    commands that never import TensorFlow pay nothing. ZOO_TF_LOG=1 (or HYDRA_FULL_ERROR=1) shows the lines."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and so that the real finders answer
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            try:
                load(module)
                module.config.list_physical_devices("GPU")
                module.transpose(module.constant([[True]]))  # the first op, on a mask as RNNs transpose them
            finally:
                os.dup2(stderr, 2)
                os.close(stderr)
                os.close(devnull)

        spec.loader.exec_module = exec_module
        return spec


if not SHOW_TENSORFLOW_LOG and "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, QuietTensorFlow())


def load(run_dir):
    """A finished run folder as a model that answers raw input: see zoo.runs.TrainedRun."""
    from zoo.runs import load as load_run

    return load_run(run_dir)


def train(overrides: list[str] = ()) -> dict:
    """Train one configuration, composed from `overrides` as the command line composes it, into a new run folder
    under outputs/runs/; returns the run's record (metrics.json) with its folder as `run`."""
    from zoo.runner import train_new

    return train_new(list(overrides))
