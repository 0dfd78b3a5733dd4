"""The sequence-model zoo: SimpleRNN, LSTM and GRU in every RNN topology, on real tasks.

    import zoo
    record = zoo.train(["task=imdb", "cell=gru"])    # the config `python -m zoo task=imdb cell=gru` runs
    model = zoo.load(record["run"])                  # a finished run folder
    model.predict(["It was not great, but I recommend it."])
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the run log
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SHOW_TENSORFLOW_LOG = "1" in (os.environ.get("ZOO_TF_LOG"), os.environ.get("HYDRA_FULL_ERROR"))


def import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up lines (absl, oneDNN, the CUDA stubs) are written to file descriptor 2 before
    TF_CPP_MIN_LOG_LEVEL takes effect, so it is pointed at /dev/null while TensorFlow loads and looks for GPUs.
    ZOO_TF_LOG=1 (or HYDRA_FULL_ERROR=1) shows them."""
    if SHOW_TENSORFLOW_LOG or "tensorflow" in sys.modules:
        return
    stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
        tf.transpose(tf.constant([[True]]))  # the first op (CPU feature notes), on a mask as RNNs transpose them
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)


import_tensorflow_quietly()


def load(run_dir):
    """A finished run folder as a model that answers raw input: see zoo.predict.TrainedRun."""
    from zoo.predict import load as load_run

    return load_run(run_dir)


def train(overrides: list[str] = ()) -> dict:
    """Train one configuration, composed from `overrides` as the command line composes it, into a new run folder
    under outputs/runs/; returns the run's record (metrics.json) with its folder as `run`."""
    from zoo.runner import train_new

    return train_new(list(overrides))
