"""What a task tells the engine: the shape of its inputs and outputs, its data, and its metrics.

A task knows nothing of cells or topologies. Topologies read a `Spec` and build a model for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Optional

import numpy as np

from zoo.lazy import lazy_import
from zoo.validation import require_positive

keras = lazy_import("keras")
tf = lazy_import("tensorflow")

# Input kinds: "features" (a fixed-size vector of numbers), "tokens" (a sequence of integer ids, 0 = padding;
# with `char_size`, each example is (token ids, character ids per token)), "image" (height x width x channels),
# "video" (frames x height x width x channels; `image_shape` is one frame's), "series" (steps x channels of numbers).
# Output kinds: "class" (one label per example), "value" (a number per example, regression), "tags" (one label per
# input step), "next" (the next input token at every step: a language model, which must not see ahead),
# "tokens" (a generated sequence), "values" (`output_length` numbers: the next steps of the input series' first
# channel, a forecast).

SAMPLES = 20  # test examples a task writes to samples.json with the model's output
BUCKETS = 8  # the padded lengths of a split of variable-length sequences (see `batched`)


@dataclass(frozen=True)
class Spec:
    inputs: str
    input_size: int  # feature count (pixel count for images, channels for series), or vocabulary size for tokens
    outputs: str
    output_size: int  # number of classes (1 for a value), or vocabulary size for generated tokens
    output_length: Optional[int] = None  # longest generated sequence, start and end tokens included
    start_id: int = 1  # for generated token sequences: id 0 is padding, then start and end markers
    end_id: int = 2
    char_size: Optional[int] = None  # character vocabulary, when every token also comes as its characters
    image_shape: Optional[tuple[int, int, int]] = None  # for image inputs
    unknown_id: Optional[int] = None  # the token id that out-of-vocabulary words share (model.word_dropout uses it)

    @property
    def decoder_start(self) -> int:
        """The id a decoder starts from: generated tokens have their own start id; tags have none, so the decoder
        starts from one id past them."""
        return self.start_id if self.outputs == "tokens" else self.output_size

    @property
    def decoder_vocabulary(self) -> int:
        return max(self.output_size, self.decoder_start + 1)

    @classmethod
    def from_json(cls, saved: dict) -> "Spec":
        return cls(**{**saved, "image_shape": tuple(saved["image_shape"]) if saved.get("image_shape") else None})


@dataclass(frozen=True)
class InputForm:
    """How a person gives the task one input: the line of `python -m zoo.predict --help` and the demo's input.

    `kind`: "text" (a line of text; `placeholder` is an example), "example" (the N-th generated test example,
    `--example N`; with `image`, a picture file may be given instead) or "fields" (`name=value` pairs; `fields`
    holds each name with an example value, in the order the task reads them). With `whole_file`, an input may be
    a file's path, and `zoo.predict --file F` gives F as one input instead of one input a line."""

    help: str
    kind: str = "text"
    placeholder: str = ""
    fields: tuple[tuple[str, float], ...] = ()
    image: bool = False
    whole_file: bool = False


@dataclass
class Splits:
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict  # examples per split


@dataclass
class TaskConfig:
    """Fields every task config has; each task module subclasses this as `Config`."""

    name: str
    topology: str  # the natural topology, used when no topology= is given
    limit: Optional[int] = None  # cap on examples per split; null = all

    def __post_init__(self):
        require_positive("task", self, "limit")


class Task:
    inputs: ClassVar[str]
    outputs: ClassVar[str]
    unknown_id: ClassVar[Optional[int]] = None  # the token id that out-of-vocabulary words share, if they share one
    form: ClassVar[InputForm] = InputForm(help="a line of text")
    smoke_test: ClassVar[tuple[str, ...]] = ()  # settings for a short test run on tests/data or a small generated set
    primary_metric: ClassVar[str] = "accuracy"
    primary_goal: ClassVar[str] = "max"
    target: ClassVar[Optional[float]] = None  # a validation value of the primary metric worth reaching (results.md)
    xla_unfit: ClassVar[str] = ""  # why XLA (trainer.jit_compile) cannot serve this task's training, where it cannot

    def __init__(self, cfg: TaskConfig, data_dir: Path, seed: int):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.seed = seed

    def load(self, batch_size: int) -> tuple[Spec, Splits]:
        raise NotImplementedError

    def make_spec(self, **sizes) -> Spec:
        """The `Spec` of this task's data: its input and output kinds and unknown id, with the sizes `load` found."""
        return Spec(inputs=self.inputs, outputs=self.outputs, unknown_id=self.unknown_id, **sizes)

    def loss(self):
        """The training loss on logits (`trainer.label_smoothing` replaces it with the smoothed cross-entropy)."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list:
        return ["accuracy"]

    def callbacks(self, run_dir: Path) -> list:
        """Keras callbacks the task adds to training (e.g. writing generated samples after every epoch)."""
        return []

    def test_metrics(self, predict: Callable, splits: Splits, run_dir: Path) -> dict:
        """Test metrics beyond the compiled ones (e.g. BLEU of decoded outputs); may write samples to run_dir.

        `predict(inputs, beam_size=1, exclude=())` gives the trained model's answers for a batch of inputs: a class
        per example, a tag per input step, or a list of generated token ids per example, none of them in
        `exclude` (see zoo.decoding.predict).
        """
        return {}

    def step_metrics(self, steps: list[tuple], run_dir: Path) -> dict:
        """Test metrics from the per-step predictions of tags or tokens (e.g. a per-tag report): `steps` holds
        (inputs, gold ids, predicted ids) per test batch (see decoding.step_predictions; 0 = padding)."""
        return {}

    def extras(self) -> dict:
        """Other facts for metrics.json, such as a baseline's score on the same split."""
        return {}

    # Using the trained model on new input (zoo.predict). After `load`, `state()` is saved in the run folder; a
    # fresh process calls `restore(state)` instead of `load`, then `answer`s raw inputs.

    def state(self) -> dict:
        """What reading new input needs (vocabularies, tag lists, feature scaling...), as JSON."""
        return {}

    def restore(self, state: dict) -> None:
        pass

    def parse(self, text: str):
        """One input as the command line gives it (a line of text, or `--example N`) -> the task's raw input."""
        return text

    def answer(self, run, inputs: list, **options) -> list[dict]:
        """The trained `run`'s (zoo.runs.TrainedRun) answer to each raw input: a dict of output fields."""
        raise NotImplementedError

    def test_inputs(self, count: int) -> list[tuple]:
        """Up to `count` (raw input, right answer) pairs from the test split, in `answer`'s terms."""
        return []


@dataclass(frozen=True)
class Example:
    """The n-th example of a generated test split, as an input (`--example N`)."""

    index: int


def by_length(sequences: list, batch_size: int = 256) -> list[list[int]]:
    """Indices of `sequences` in batches of similar length (little padding), for answering many inputs."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def real_steps(steps: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """The gold and predicted ids of `step_metrics`' steps at real steps only, every padding position left out."""
    gold = np.concatenate([g[g != 0] for _, g, _ in steps])
    predicted = np.concatenate([p[g != 0] for _, g, p in steps])
    return gold, predicted


def step_accuracy(steps: list[tuple]) -> float:
    """The fraction of real (non-padding) steps whose predicted id is the gold one."""
    gold, predicted = real_steps(steps)
    return float(np.mean(gold == predicted))


def class_outputs(logits, names: list[str]) -> dict:
    """A SavedModel's (zoo.export) `label`, `probability` and `probabilities` tensors of a classifier's logits."""
    probabilities = tf.nn.softmax(logits)
    return {"label": tf.gather(tf.constant(names), tf.argmax(probabilities, axis=-1)),
            "probability": tf.reduce_max(probabilities, axis=-1), "probabilities": probabilities}


def class_answer(names: list[str], probabilities: np.ndarray) -> dict:
    """A class output: the likeliest label, its probability, and every label's."""
    best = int(np.argmax(probabilities))
    return {"label": names[best], "probability": float(probabilities[best]),
            "probabilities": {name: float(p) for name, p in zip(names, probabilities)}}


def seeded_split(n: int, seed: int, limit: Optional[int], **fractions: float) -> dict[str, np.ndarray]:
    """Shuffle indices 0..n-1 with `seed`, carve each named fraction off the front and call the rest "train";
    every part is capped at `limit` examples."""
    order = np.random.default_rng(seed).permutation(n)
    parts, start = {}, 0
    for name, fraction in fractions.items():
        size = int(n * fraction)
        parts[name], start = order[start:start + size], start + size
    parts["train"] = order[start:]
    return {name: indices[:limit] for name, indices in parts.items()}


def uci_digits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The UCI handwritten digits bundled with scikit-learn (1,797 8x8 images, pixels scaled to [0, 1]) and their
    labels, split 60/20/20 by image, seeded: generated test examples show only digits never seen in training."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pools = seeded_split(len(digits.images), seed, None, val=0.2, test=0.2)
    return {name: (digits.images[indices] / 16.0, digits.target[indices]) for name, indices in pools.items()}


def generated_sizes(train_examples: int, limit: Optional[int]) -> dict[str, int]:
    """Examples per split for a generated dataset: val and test get a tenth of train each, all capped at limit."""
    sizes = {"train": train_examples, "val": max(1, train_examples // 10), "test": max(1, train_examples // 10)}
    return {name: min(n, limit or n) for name, n in sizes.items()}


def batch_longest(lengths: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The sequences' indices sorted by length, longest first, and the longest length of each batch cut from that
    order (so that the one batch short of batch_size holds the shortest sequences)."""
    order = np.argsort(-lengths, kind="stable")
    return order, lengths[order[::batch_size]]


def bucket_bounds(lengths: np.ndarray, batch_size: int, buckets: int) -> list[int]:
    """At most `buckets` padded lengths for sequences of these `lengths`, the longest among them, chosen to pad as
    little as possible: the sequences sorted by length go in batches of `batch_size`, a batch pads to the smallest
    bound at or above its longest sequence, and the bounds minimize the steps all batches pad to (exactly, by
    dynamic programming over the batches' longest lengths)."""
    tops, counts = np.unique(batch_longest(lengths, batch_size)[1], return_counts=True)
    # cost[j, k]: least padded steps for the batches whose longest is at most tops[j], with k bounds, tops[j] one
    cost = np.full((len(tops), buckets + 1), np.inf)
    choice = np.zeros((len(tops), buckets + 1), dtype=int)
    below = np.concatenate([[0], np.cumsum(counts)])
    for j, top in enumerate(tops):
        cost[j, 1] = below[j + 1] * top
        for k in range(2, buckets + 1):
            previous = cost[:j, k - 1] + (below[j + 1] - below[1:j + 1]) * top
            if j:
                choice[j, k] = int(np.argmin(previous))
                cost[j, k] = previous[choice[j, k]]
    bounds, j, k = [], len(tops) - 1, int(np.argmin(cost[-1, 1:])) + 1
    while k >= 1:
        bounds.append(int(tops[j]))
        j, k = choice[j, k], k - 1
    return sorted(set(bounds))


def batched(examples: tf.data.Dataset, size: int, batch_size: int, shuffle: bool, seed: int,
            max_length: Optional[int] = None, buckets: int = BUCKETS,
            bucket_width: Optional[int] = None) -> tf.data.Dataset:
    """Cache the prepared examples once and reshuffle the training set every epoch.

    tf.data's autotuning is off: its background thread sleeps for periods that double up to a minute, and
    deleting an iterator (at the end of every epoch) waited for that sleep, which stalled training for 10, 20
    or 40 s at a time (docs/speed.md). Nor is there a `prefetch`: batches come from memory in microseconds.

    With `max_length`, examples are variable-length sequences (the first tensor of an example sets its length,
    at most max_length). Their batches come in a few fixed shapes, so that XLA (`trainer.jit_compile`) compiles a
    handful of them once: every batch is padded with 0 to one of at most `buckets` lengths chosen from the split's
    length histogram (`bucket_bounds`; every tensor's first unknown dimension), and holds sequences of one bucket
    only. Each sequence's bucket is fixed when the split is made (the sequences sorted by length, longest first, in
    batches; each batch's bucket the one its longest fits), so that every bucket but the shortest holds a whole
    number of batches: the shapes are at most `buckets` full batches and one batch of the split's remainder
    (size mod batch_size, the shortest sequences). With `bucket_width` instead (translation, whose targets set
    their own length), a batch holds sequences whose lengths fall in one bucket that wide and is padded to its
    longest.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    examples = examples.apply(tf.data.experimental.assert_cardinality(size)).cache().with_options(options)

    def shuffled(dataset: tf.data.Dataset) -> tf.data.Dataset:
        return dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True) if shuffle else dataset

    if max_length is None:
        return shuffled(examples).batch(batch_size)

    def length(inputs, *_):
        return tf.shape(tf.nest.flatten(inputs)[0])[0]

    if bucket_width is not None:  # a bucket holds the lengths below its bound
        boundaries = [*range(bucket_width, max_length, bucket_width), max_length + 1]
        return shuffled(examples).bucket_by_sequence_length(length, boundaries, [batch_size] * (len(boundaries) + 1))
    lengths = np.concatenate(list(examples.map(length).batch(4096).as_numpy_iterator()))
    bounds = bucket_bounds(lengths, batch_size, buckets)
    order, longest = batch_longest(lengths, batch_size)
    bucket = np.empty(size, dtype="int64")
    bucket[order] = np.repeat(np.searchsorted(bounds, longest), batch_size)[:size]
    keyed = shuffled(tf.data.Dataset.zip(examples, tf.data.Dataset.from_tensor_slices(bucket)))
    shapes = tf.nest.map_structure(lambda spec: spec.shape, examples.element_spec)
    bound_of = tf.constant(bounds, dtype=tf.int64)

    def padded(key, window):
        def shape(static):  # the first unknown dimension: the bucket's bound; any other: the batch's longest
            known = static.as_list()
            dims = [-1 if d is None else d for d in known]
            if None in known:
                dims[known.index(None)] = bound_of[key]
            return tf.stack([tf.cast(d, tf.int64) for d in dims]) if dims else tf.constant([], tf.int64)
        return window.map(lambda example, _: example).padded_batch(batch_size, tf.nest.map_structure(shape, shapes))

    return keyed.group_by_window(lambda _, key: key, padded, window_size=batch_size)
