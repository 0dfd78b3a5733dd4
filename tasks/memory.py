"""Long-term dependency (many-to-one): the answer depends on an input far back in the sequence.

`task.variant=adding` (Hochreiter & Schmidhuber 1997; Bai et al. 2018): every step is (a random number in
[0, 1], a marker); exactly two steps are marked, one in each half of the sequence, and the target is the sum of
the two marked numbers. A model that remembers nothing predicts the mean, 1, and scores the variance of the sum,
1/6 = 0.167 MSE.

`task.variant=recall`: the first token is one of `task.symbols` symbols, then `task.length` distractor tokens,
then a query token; the target is the first token ("Tom was watching TV ... Mary said hi to ?"). Chance is
1/symbols.

Generated in memory, seeded; `task.length` is T.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import Example, InputForm, Splits, TaskConfig, batched, generated_sizes
from zoo.task import Task as BaseTask
from zoo.validation import require_positive

keras = lazy_import("keras")
tf = lazy_import("tensorflow")

QUERY = 1  # token ids: 0 padding, 1 the query, then the symbols, then the distractors
DISTRACTORS = 8


class Variant(Enum):
    adding = "sum of the two marked numbers (regression, MSE)"
    recall = "the first token, after T distractors (classification)"


@dataclass
class Config(TaskConfig):
    name: str = "memory"
    topology: str = "many_to_one"
    variant: Variant = Variant.adding
    length: int = 100  # T: steps between the information and the answer
    symbols: int = 8  # recall: how many different first tokens
    train_examples: int = 20000  # val and test get a tenth each

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "length", "symbols", "train_examples")


def adding_problem(count: int, length: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(count, length, 2) inputs of (number, marker) and (count, 1) sums of the two marked numbers."""
    numbers = rng.uniform(0, 1, (count, length))
    markers = np.zeros((count, length))
    rows = np.arange(count)
    first = rng.integers(0, length // 2, count)
    second = rng.integers(length // 2, length, count)
    markers[rows, first] = markers[rows, second] = 1
    sums = numbers[rows, first] + numbers[rows, second]
    return np.stack([numbers, markers], axis=-1).astype("float32"), sums[:, None].astype("float32")


def recall_problem(count: int, length: int, symbols: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences: a symbol, `length` distractors, the query; and the symbol's class."""
    answers = rng.integers(0, symbols, count)
    distractors = rng.integers(2 + symbols, 2 + symbols + DISTRACTORS, (count, length))
    tokens = np.concatenate([(answers + 2)[:, None], distractors, np.full((count, 1), QUERY)], axis=1)
    return tokens.astype("int32"), answers.astype("int32")


class Task(BaseTask):
    form = InputForm(help="--example N (a generated test sequence) -> the answer and the right one", kind="example")
    smoke_test = ("task.train_examples=300", "task.length=20")

    @property
    def adding(self) -> bool:
        return self.cfg.variant == Variant.adding

    @property
    def inputs(self) -> str:
        return "series" if self.adding else "tokens"

    @property
    def outputs(self) -> str:
        return "value" if self.adding else "class"

    @property
    def primary_metric(self) -> str:
        return "mse" if self.adding else "accuracy"

    @property
    def primary_goal(self) -> str:
        return "min" if self.adding else "max"

    @property
    def target(self):
        return 0.01 if self.adding else None  # adding problem MSE; Bai et al. report 5.3e-5 for a GRU at T=600

    def loss(self):
        return keras.losses.MeanSquaredError() if self.adding else super().loss()

    def metrics(self) -> list:
        return [keras.metrics.MeanSquaredError(name="mse")] if self.adding else super().metrics()

    def load(self, batch_size: int):
        rng = np.random.default_rng(self.seed)
        counts = generated_sizes(self.cfg.train_examples, self.cfg.limit)
        if self.adding:
            data = {name: adding_problem(n, self.cfg.length, rng) for name, n in counts.items()}
            spec = self.make_spec(input_size=2, output_size=1)
            train_mean = data["train"][1].mean()
            self.baseline = {"baseline_mse": float(np.mean((data["test"][1] - train_mean) ** 2))}
        else:
            data = {name: recall_problem(n, self.cfg.length, self.cfg.symbols, rng) for name, n in counts.items()}
            spec = self.make_spec(input_size=2 + self.cfg.symbols + DISTRACTORS, output_size=self.cfg.symbols)
            self.baseline = {"baseline_accuracy": 1 / self.cfg.symbols}

        self.test_data = data["test"]

        def dataset(name: str) -> tf.data.Dataset:
            x, y = data[name]
            return batched(tf.data.Dataset.from_tensor_slices((x, y)), len(y), batch_size, name == "train", self.seed)

        return spec, Splits(dataset("train"), dataset("val"), dataset("test"), sizes=counts)

    def extras(self) -> dict:
        # distance: the steps between the information and the answer (zoo.diagnose long-dependency)
        return {**getattr(self, "baseline", {}), "distance": self.cfg.length}

    def parse(self, text: str):
        raise DataError("task=memory answers generated test sequences only: give --example N")

    def answer(self, run, examples: list[Example]) -> list[dict]:
        if not hasattr(self, "test_data"):
            self.load(batch_size=1)  # the generated splits again, seeded
        x, y = self.test_data
        for example in examples:
            if not 0 <= example.index < len(y):
                raise DataError(f"--example {example.index}: the test split has examples 0 to {len(y) - 1}")
        rows = [example.index for example in examples]
        predicted = run.ids(x[rows])
        if self.adding:
            return [{"value": float(value), "expected": float(y[row, 0])} for value, row in zip(predicted, rows)]
        return [{"label": str(label), "expected": str(y[row])} for label, row in zip(predicted, rows)]

    def test_inputs(self, count: int) -> list[tuple]:
        _, y = self.test_data
        return [(Example(i), float(y[i, 0]) if self.adding else str(y[i])) for i in range(min(count, len(y)))]
