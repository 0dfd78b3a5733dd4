"""IMDB sentiment (many-to-one): a movie review's words -> positive / negative.

Large Movie Review Dataset v1.0 (Maas et al., 2011): 25k train / 25k test reviews, labels from the pos/neg
folders. Read straight from the tarball (about 4 s for all 50k reviews), from the original `aclImdb_v1.tar.gz`,
the labelled repack, or an extracted `aclImdb/` folder. Validation is a seeded 10 % of train (with
`task.val_by_movie`, the reviews of a seeded 10 % of the training movies, named by train/urls_*.txt, so that
validation, like the test set, has movies the training reviews never saw); the official test set is used only
for the final evaluation.
"""
from __future__ import annotations

import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data import Source, locate, text_lines
from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import InputForm, Splits, TaskConfig, batched, by_length, class_answer, class_outputs, seeded_split
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions, require_positive

keras = lazy_import("keras")
tf = lazy_import("tensorflow")

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
SOURCES = [
    Source("aclImdb_v1.tar.gz", sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", url=URL),
    Source("imdb_reviews/aclImdb_labelled.tar.gz",
           sha256="3c27c84c5b647935a2b44ee9c5b3fc302d26b6d268caf4c6a360aa7cb1f5fce7"),
    Source("imdb_reviews/aclImdb"),
    Source("aclImdb"),
]
WHERE_TO_GET = f"download {URL} into the data dir"
LABELS = ["negative", "positive"]
OTHER_PUNCTUATION = r'["#$%&()\*\+,-\./:;<=>@\[\\\]^_`{|}~\']'  # Keras's standardization less "!" and "?"
REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")
MOVIE_LIST = re.compile(r"(?:^|/)aclImdb/(train|test)/urls_(pos|neg)\.txt$")  # line n: the movie of review n
MOVIE = re.compile(r"/title/(tt\d+)/")


@dataclass
class Config(TaskConfig):
    name: str = "imdb"
    topology: str = "many_to_one"
    vocabulary_size: int = 10000  # most frequent training words kept; the rest share one OOV id
    max_length: int = 400  # words kept from the start of each review
    val_fraction: float = 0.1  # seeded share of the official train set held out for validation
    marks: bool = False  # keep "!" and "?" as words of their own (all other punctuation is dropped)
    val_by_movie: bool = False  # validation holds whole movies (val_fraction of the reviews), as test does

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "vocabulary_size", "max_length")
        require_fractions("task", self, "val_fraction")


def read_reviews(path: Path) -> dict[str, tuple[list[str], list[int], list]]:
    """{"train"|"test": (texts, labels, movies)} from a tarball or an extracted aclImdb/ folder; label 1 =
    positive; a review's movie is its IMDB title id, None where the folder has no urls_*.txt for it."""
    found, movie_lists = [], {}

    def add(name: str, read) -> None:
        if match := REVIEW.search(name):
            split, sentiment, number = match.groups()
            found.append((split, sentiment, int(number), read().decode("utf-8").replace("<br />", " ")))
        elif match := MOVIE_LIST.search(name):
            movie_lists[match.groups()] = [(m.group(1) if (m := MOVIE.search(line)) else None)
                                           for line in text_lines(read().decode("utf-8"))]

    try:
        if path.is_dir():
            for file in sorted(path.rglob("*.txt")):
                add(file.as_posix(), file.read_bytes)
        else:
            with tarfile.open(path) as archive:
                for member in archive:
                    add(member.name, lambda: archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is unreadable or truncated: {e}") from None
    splits = {"train": ([], [], []), "test": ([], [], [])}
    for split, sentiment, number, text in found:
        movies = movie_lists.get((split, sentiment), [])
        for part, value in zip(splits[split], (text, int(sentiment == "pos"),
                                               movies[number] if number < len(movies) else None)):
            part.append(value)
    for split, (_, labels, _) in splits.items():
        if len(set(labels)) < 2:
            raise DataError(f"{path} has no {split}/pos and {split}/neg reviews; is it the aclImdb dataset?")
    return splits


def movie_split(movies: list, seed: int, limit, val: float) -> dict[str, np.ndarray]:
    """seeded_split's parts, but whole movies go to validation until it holds `val` of the reviews."""
    reviews_of = Counter(movies)
    names = sorted(reviews_of)
    in_val, size = set(), 0
    for i in np.random.default_rng(seed).permutation(len(names)):
        if size >= int(len(movies) * val):
            break
        in_val.add(names[i])
        size += reviews_of[names[i]]
    order = np.random.default_rng(seed).permutation(len(movies))
    return {name: np.array([i for i in order if (movies[i] in in_val) == (name == "val")], dtype=int)[:limit]
            for name in ("val", "train")}


def words_and_marks(texts: tf.Tensor) -> tf.Tensor:
    """Keras's standardization (lower-cased, punctuation dropped), but "!" and "?" kept as words of their own."""
    spaced = tf.strings.regex_replace(tf.strings.lower(texts), "([!?])", r" \1 ")
    return tf.strings.regex_replace(spaced, OTHER_PUNCTUATION, "")


class Task(BaseTask):
    inputs = "tokens"
    outputs = "class"
    unknown_id = 1
    form = InputForm(help="a review's text -> label, its probability and each label's",
                     placeholder="It was not great, but I recommend it.")
    # the preset's words and pairs: saved, restored and exported as trained
    smoke_test = ("task.marks=true", "model.bigram_buckets=1000", "model.bigram_dropout=0.5")
    target = 0.87  # validation accuracy; the foundation's goal for a GRU in 10 minutes

    def load(self, batch_size: int):
        path, _ = locate(self.data_dir, SOURCES, WHERE_TO_GET)
        reviews = read_reviews(path)
        texts, labels, movies = reviews["train"]
        if self.cfg.val_by_movie:
            if None in movies:
                raise DataError(f"{path} has no train/urls_pos.txt and urls_neg.txt naming every review's movie, "
                                "which task.val_by_movie needs")
            split = movie_split(movies, self.seed, self.cfg.limit, val=self.cfg.val_fraction)
        else:
            split = seeded_split(len(labels), self.seed, self.cfg.limit, val=self.cfg.val_fraction)
        texts, labels = np.array(texts), np.array(labels)
        parts = {name: (texts[idx], labels[idx]) for name, idx in split.items()}
        texts, labels = (np.array(v) for v in reviews["test"][:2])
        test = seeded_split(len(labels), self.seed, self.cfg.limit)["train"]  # a seeded order, so limit is random
        parts["test"] = (texts[test], labels[test])

        self.vectorize = self.vectorizer(max_tokens=self.cfg.vocabulary_size)
        self.vectorize.adapt(tf.data.Dataset.from_tensor_slices(parts["train"][0]).batch(1024))
        self.test_reviews = parts["test"]

        def dataset(name: str) -> tf.data.Dataset:
            texts, labels = parts[name]
            examples = tf.data.Dataset.from_tensor_slices((texts, labels)).map(
                lambda text, label: (self.token_ids(text), label), tf.data.AUTOTUNE)
            return batched(examples, len(labels), batch_size, name == "train", self.seed, self.cfg.max_length)

        spec = self.make_spec(input_size=self.vectorize.vocabulary_size(), output_size=2)
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(y) for name, (_, y) in parts.items()})

    def token_ids(self, texts: tf.Tensor) -> tf.Tensor:
        """A review's (or a batch's, ragged) word ids: lower-cased, without punctuation (with task.marks, "!" and
        "?" are words), cut at max_length."""
        return self.vectorize(texts)[..., : self.cfg.max_length]

    def state(self) -> dict:
        return {"vocabulary": [str(word) for word in self.vectorize.get_vocabulary()]}

    def restore(self, state: dict) -> None:
        self.vectorize = self.vectorizer(vocabulary=state["vocabulary"])

    def vectorizer(self, **kwargs) -> keras.layers.TextVectorization:
        standardize = words_and_marks if self.cfg.marks else "lower_and_strip_punctuation"
        return keras.layers.TextVectorization(standardize=standardize, ragged=True, **kwargs)

    def answer(self, run, reviews: list[str], steps: bool = False) -> list[dict]:
        ids = [review or [1] for review in self.token_ids(tf.constant(reviews)).to_list()]  # nothing known: [UNK]
        probabilities = np.zeros((len(reviews), len(LABELS)))
        for batch in by_length(ids):
            probabilities[batch] = run.probabilities(keras.utils.pad_sequences([ids[i] for i in batch],
                                                                               padding="post"))
        answers = [class_answer(LABELS, p) for p in probabilities]
        if steps:  # the probabilities after each word: the answer to every prefix of the review
            vocabulary = self.vectorize.get_vocabulary()
            for answer, review in zip(answers, ids):
                after = run.probabilities(keras.utils.pad_sequences([review[:n] for n in range(1, len(review) + 1)],
                                                                    padding="post"))
                answer["steps"] = [{"token": str(vocabulary[i]), "probabilities": dict(zip(LABELS, map(float, p))),
                                    **trace} for i, p, trace in zip(review, after, run.gate_trace(np.array([review])))]
        return answers

    def serving(self, run):
        """A SavedModel endpoint (zoo.export): review strings -> label, probability, probabilities."""

        def serve(reviews):
            ids = self.token_ids(reviews)
            dense = tf.pad(ids.to_tensor(), [[0, 0], [0, 1]])  # one more padding step: never zero steps wide
            empty = (ids.row_lengths() == 0)[:, None] & (tf.range(tf.shape(dense)[1]) == 0)[None, :]
            return class_outputs(run.model(tf.where(empty, tf.ones_like(dense), dense)), LABELS)  # as `answer`

        return serve, [tf.TensorSpec([None], tf.string, name="reviews")], [self.vectorize]

    def test_inputs(self, count: int) -> list[tuple]:
        texts, labels = self.test_reviews
        return [(str(text), LABELS[label]) for text, label in zip(texts[:count], labels[:count])]
