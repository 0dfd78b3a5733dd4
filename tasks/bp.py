"""Blood pressure category from body measures (one-to-one): age, sex, height, weight and lifestyle -> normal /
elevated / high, on the 70k-patient Kaggle cardiovascular dataset.

Target, from the measured systolic (ap_hi) and diastolic (ap_lo) pressure, following the AHA categories merged
to three classes:
  0 normal    ap_hi < 120 and ap_lo < 80
  1 elevated  otherwise below "high" (AHA "elevated" and "stage 1": 120-139 or 80-89)
  2 high      ap_hi >= 140 or ap_lo >= 90 (AHA "stage 2" and above)
ap_hi, ap_lo and cardio are never inputs. Rows outside physiological ranges are dropped (see PLAUSIBLE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.data import Source, locate, open_text
from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import InputForm, Splits, TaskConfig, batched, class_answer, class_outputs, seeded_split
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions

pd = lazy_import("pandas")
tf = lazy_import("tensorflow")

SOURCES = [
    Source("cardio_train/cardio_train.csv.gz",
           sha256="cf49a442a6a6ed2ca28df77838b5632e428f548eb016d33bd2d37172226369f2"),
    Source("cardio_train/cardio_train.csv"),  # the Kaggle original, ';'-delimited
]
WHERE_TO_GET = ("get cardio_train.csv from Kaggle's 'Cardiovascular Disease dataset' (sulianova) "
                "and put it in cardio_train/ under the data dir")
FEATURES = ["age_years", "gender", "height", "weight", "cholesterol", "gluc", "smoke", "alco", "active"]
INPUTS = {  # a new patient's features as `zoo.predict` reads them (name=value), in FEATURES' order, with units
    "age": "years", "gender": "1 woman, 2 man", "height": "cm", "weight": "kg",
    "cholesterol": "1 normal, 2 above normal, 3 well above", "gluc": "glucose, as cholesterol",
    "smoke": "0 no, 1 yes", "alco": "0 no, 1 yes", "active": "physically active, 0 no, 1 yes",
}
EXAMPLE = dict(zip(INPUTS, (52, 1, 168, 81, 1, 1, 0, 0, 1)))  # a patient, as the demo's fields start
CLASSES = ["normal", "elevated", "high"]
PLAUSIBLE = {  # inclusive ranges; anything else is a data-entry error (e.g. ap_hi 16020, height 55 cm)
    "ap_hi": (70, 250),
    "ap_lo": (40, 160),
    "height": (120, 220),
    "weight": (30, 200),
}


@dataclass
class Config(TaskConfig):
    name: str = "bp"
    topology: str = "one_to_one"
    val_fraction: float = 0.15
    test_fraction: float = 0.15

    def __post_init__(self):
        super().__post_init__()
        require_fractions("task", self, "val_fraction", "test_fraction")


def read_table(path) -> pd.DataFrame:
    try:
        with open_text(path) as f:
            header = f.readline()
            sep = ";" if header.count(";") > header.count(",") else ","
            f.seek(0)
            table = pd.read_csv(f, sep=sep)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path} is not a readable CSV: {e}") from None
    missing = {"age", "gender", "height", "weight", "ap_hi", "ap_lo"} - set(table.columns)
    if missing or table.empty:
        raise DataError(f"{path} has no rows or lacks columns {sorted(missing)}; is it cardio_train.csv?")
    return table


def clean(table: pd.DataFrame) -> pd.DataFrame:
    keep = table.ap_lo < table.ap_hi
    for column, (low, high) in PLAUSIBLE.items():
        keep &= table[column].between(low, high)
    return table[keep].assign(age_years=table.age / 365.25)


def bp_category(ap_hi: pd.Series, ap_lo: pd.Series) -> np.ndarray:
    high = (ap_hi >= 140) | (ap_lo >= 90)
    normal = (ap_hi < 120) & (ap_lo < 80)
    return np.where(high, 2, np.where(normal, 0, 1)).astype("int32")


class Task(BaseTask):
    inputs = "features"
    outputs = "class"
    form = InputForm(help=" ".join(f"{name}={value}" for name, value in EXAMPLE.items()) + " ("
                     + "; ".join(f"{name}: {unit}" for name, unit in INPUTS.items()) + ") -> category and each one's "
                     "probability", kind="fields", fields=tuple(EXAMPLE.items()))

    def load(self, batch_size: int):
        path, _ = locate(self.data_dir, SOURCES, WHERE_TO_GET)
        table = read_table(path)
        rows = clean(table)
        self.dropped_rows = len(table) - len(rows)
        features = rows[FEATURES].to_numpy("float32")
        labels = bp_category(rows.ap_hi, rows.ap_lo)

        parts = seeded_split(len(rows), self.seed, self.cfg.limit,
                             test=self.cfg.test_fraction, val=self.cfg.val_fraction)

        self.mean, self.std = features[parts["train"]].mean(0), features[parts["train"]].std(0) + 1e-6
        self.arrays = {name: (self.standardize(features[idx]), labels[idx]) for name, idx in parts.items()}
        self.test_features = features[parts["test"]]
        splits = Splits(
            *(batched(tf.data.Dataset.from_tensor_slices(self.arrays[name]), len(parts[name]), batch_size,
                      shuffle=name == "train", seed=self.seed)
              for name in ("train", "val", "test")),
            sizes={name: len(idx) for name, idx in parts.items()},
        )
        return self.make_spec(input_size=len(FEATURES), output_size=len(CLASSES)), splits

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """Raw features (FEATURES' order and units) scaled by the training split's mean and deviation."""
        return (features - self.mean) / self.std

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    def restore(self, state: dict) -> None:
        self.mean, self.std = (np.array(state[key], dtype="float32") for key in ("mean", "std"))

    def parse(self, text: str) -> np.ndarray:
        """`age=52 gender=1 height=168 ...` (every name of INPUTS once) -> the raw feature vector."""
        given = dict(item.partition("=")[::2] for item in text.split())
        if missing := [name for name in INPUTS if name not in given]:
            raise DataError(f"bp input {text!r} lacks {', '.join(missing)} (give name=value for each of "
                            f"{', '.join(INPUTS)})")
        if unknown := sorted(set(given) - set(INPUTS)):
            raise DataError(f"bp input {text!r} has unknown features {', '.join(unknown)}")
        values = []
        for name in INPUTS:
            try:
                values.append(float(given[name]))
            except ValueError:
                values.append(math.nan)
            if not math.isfinite(values[-1]):
                raise DataError(f"bp input {text!r}: {name}={given[name]!r} is not a number")
        return np.array(values, dtype="float32")

    def answer(self, run, patients: list) -> list[dict]:
        probabilities = run.probabilities(self.standardize(np.stack(patients)))
        return [class_answer(CLASSES, p) for p in probabilities]

    def serving(self, run):
        """A SavedModel endpoint (zoo.export): (batch, 9) features in INPUTS' order and units -> class outputs."""

        def serve(features):
            return class_outputs(run.model(self.standardize(features)), CLASSES)

        return serve, [tf.TensorSpec([None, len(INPUTS)], tf.float32, name="features")], []

    def test_inputs(self, count: int) -> list[tuple]:
        lines = [" ".join(f"{name}={np.format_float_positional(value)}" for name, value in zip(INPUTS, row))
                 for row in self.test_features[:count]]
        return list(zip(lines, (CLASSES[label] for label in self.arrays["test"][1][:count])))

    def extras(self) -> dict:
        """Where the RNN stands: gradient-boosted trees on the same split and features."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        baseline = HistGradientBoostingClassifier(random_state=self.seed).fit(*self.arrays["train"])
        return {
            "baseline": "HistGradientBoostingClassifier",
            "baseline_accuracy": float(baseline.score(*self.arrays["test"])),
            "dropped_rows": self.dropped_rows,
            "class_counts": {c: int((self.arrays["train"][1] == i).sum()) for i, c in enumerate(CLASSES)},
        }

