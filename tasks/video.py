"""Video frame tagging (synced): a clip of image frames -> at every frame, the digit shown last.

Generated, seeded, from the UCI handwritten digits bundled with scikit-learn (8x8 grey images; the images are
split 60/20/20 into train, val and test pools, so test clips show only digits never seen in training). A clip
is `task.frames` frames long: a digit is shown for one frame, then come `task.gap` frames of noise (the camera
is covered), then the next digit, and so on. Every frame's label is the digit shown last, so in a gap the
answer is a frame up to `gap` steps back: what the cell remembers.

A classifier that sees one frame at a time can name the digit on the frames that show one, and can only guess
on the others (one in ten), so it scores at most `memoryless_ceiling` = shown + (1 - shown) / 10, where `shown`
is the share of frames with a digit. `cell=none` (the same per-frame CNN and head, no recurrence) measures it.

`task.label=clip` gives one label per clip instead, the digit shown last at the clip's end (many_to_one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from zoo.errors import DataError, ZooError
from zoo.lazy import lazy_import
from zoo.task import Example, InputForm, Splits, TaskConfig, batched, generated_sizes, uci_digits
from zoo.task import Task as BaseTask
from zoo.validation import require_positive

tf = lazy_import("tensorflow")

DIGITS = [str(d) for d in range(10)]
TAGS = ["", *DIGITS]  # per-frame tag ids: 0 is padding (no clip is padded; the synced tasks share the convention)
NOISE = 0.5  # a covered frame's pixels are uniform in [0, NOISE]; a digit's are in [0, 1]


class Label(Enum):
    frame = "a label per frame: the digit shown last (synced)"
    clip = "one label per clip: the digit shown last at its final frame (many_to_one)"


@dataclass
class Config(TaskConfig):
    name: str = "video"
    topology: str = "synced"
    label: Label = Label.frame
    frames: int = 20  # frames per clip
    gap: int = 4  # covered frames after each digit: how far back the answer lies
    train_examples: int = 5000  # clips; val and test get a tenth each

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "frames", "train_examples")
        if self.gap < 0:
            raise ZooError(f"task.gap must be >= 0, got {self.gap}")
        if self.gap >= self.frames:
            raise ZooError(f"task.gap={self.gap} does not fit a clip of task.frames={self.frames}: a clip shows a "
                           "digit first, so gap must be below frames")


def memoryless_ceiling(frames: int, gap: int) -> float:
    """The best per-frame accuracy without memory: every shown digit named, every covered frame guessed (1/10)."""
    shown = math.ceil(frames / (gap + 1)) / frames  # the share of frames that show a digit
    return shown + (1 - shown) / 10


def clips(images: np.ndarray, labels: np.ndarray, count: int, frames: int, gap: int, rng) -> tuple:
    """`count` clips (count, frames, 8, 8, 1) and the digit shown last at each frame (count, frames)."""
    video = rng.uniform(0, NOISE, size=(count, frames, 8, 8, 1)).astype("float32")
    last = np.zeros((count, frames), "int32")
    for start in range(0, frames, gap + 1):
        chosen = rng.integers(len(images), size=count)
        video[:, start, :, :, 0] = images[chosen]
        last[:, start:start + gap + 1] = labels[chosen][:, None]
    return video, last


class Task(BaseTask):
    inputs = "video"
    form = InputForm(help="--example N (a generated test clip) -> the digit shown last at every frame, and the right "
                          "ones", kind="example")
    smoke_test = ("task.train_examples=200", "task.frames=6", "task.gap=2")

    @property
    def outputs(self) -> str:
        return "tags" if self.cfg.label == Label.frame else "class"

    def generate(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        digits = uci_digits(self.seed)
        counts = generated_sizes(self.cfg.train_examples, self.cfg.limit)
        return {name: clips(*digits[name], n, self.cfg.frames, self.cfg.gap, rng) for name, n in counts.items()}

    def targets(self, last: np.ndarray) -> np.ndarray:
        """Tag ids per frame (digit + 1, 0 being padding), or the class of the clip's final frame."""
        return last + 1 if self.cfg.label == Label.frame else last[:, -1]

    def load(self, batch_size: int):
        data = self.generate()
        self.test_clips = data["test"]

        def dataset(name: str) -> tf.data.Dataset:
            video, last = data[name]
            examples = tf.data.Dataset.from_tensor_slices((video, self.targets(last)))
            return batched(examples, len(last), batch_size, name == "train", self.seed)

        frame_tags = self.cfg.label == Label.frame
        spec = self.make_spec(input_size=64, output_size=len(TAGS) if frame_tags else len(DIGITS),
                              image_shape=(8, 8, 1))
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(last) for name, (_, last) in data.items()})

    def extras(self) -> dict:
        """The best accuracy without memory (per frame; per clip, reading its final frame alone), and how far
        back the answer lies at most."""
        if self.cfg.label == Label.clip:
            final_shows_a_digit = (self.cfg.frames - 1) % (self.cfg.gap + 1) == 0
            ceiling = 1.0 if final_shows_a_digit else 0.1
        else:
            ceiling = memoryless_ceiling(self.cfg.frames, self.cfg.gap)
        return {"baseline_accuracy": ceiling, "distance": self.cfg.gap}

    def parse(self, text: str):
        raise DataError("task=video answers generated test clips only: give --example N")

    def answer(self, run, examples: list[Example]) -> list[dict]:
        if not hasattr(self, "test_clips"):
            self.test_clips = self.generate()["test"]
        video, last = self.test_clips
        for example in examples:
            if not 0 <= example.index < len(last):
                raise DataError(f"--example {example.index}: the test split has examples 0 to {len(last) - 1}")
        rows = [example.index for example in examples]
        predicted = run.ids(video[rows])
        if self.cfg.label == Label.clip:
            return [{"label": DIGITS[i], "expected": DIGITS[last[row, -1]]} for i, row in zip(predicted, rows)]
        return [{"tags": [TAGS[t] for t in tags], "expected": [DIGITS[d] for d in last[row]]}
                for tags, row in zip(predicted, rows)]

    def test_inputs(self, count: int) -> list[tuple]:
        _, last = self.test_clips
        if self.cfg.label == Label.clip:
            return [(Example(i), DIGITS[row[-1]]) for i, row in enumerate(last[:count])]
        return [(Example(i), [DIGITS[d] for d in row]) for i, row in enumerate(last[:count])]
