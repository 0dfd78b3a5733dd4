"""The sequence-model zoo: SimpleRNN, LSTM and GRU in every RNN topology, on real tasks.

    import zoo
    record = zoo.train(["task=imdb", "cell=gru"])    # the config `python -m zoo task=imdb cell=gru` runs
    model = zoo.load(record["run"])                  # a finished run folder
    model.predict(["It was not great, but I recommend it."])
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the run log
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def load(run_dir):
    """A finished run folder as a model that answers raw input: see zoo.predict.TrainedRun."""
    from zoo.predict import load as load_run

    return load_run(run_dir)


def train(overrides: list[str] = ()) -> dict:
    """Train one configuration, composed from `overrides` as the command line composes it, into a new run folder
    under outputs/runs/; returns the run's record (metrics.json) with its folder as `run`."""
    from zoo.runner import train_new

    return train_new(list(overrides))
