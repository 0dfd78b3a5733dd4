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
from zoo.task import InputForm, seeded_split

from . import text

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
REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")
MOVIE_LIST = re.compile(r"(?:^|/)aclImdb/(train|test)/urls_(pos|neg)\.txt$")  # line n: the movie of review n
MOVIE = re.compile(r"/title/(tt\d+)/")


@dataclass
class Config(text.Reading):
    name: str = "imdb"
    vocabulary_size: int = 10000  # most frequent training words kept; the rest share one OOV id
    standardize: text.Standardize = text.Standardize.ascii
    baseline: text.Baseline = text.Baseline.words
    val_by_movie: bool = False  # validation holds whole movies (val_fraction of the reviews), as test does


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
    for split, sentiment, number, review in found:
        movies = movie_lists.get((split, sentiment), [])
        for part, value in zip(splits[split], (review, int(sentiment == "pos"),
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


class Task(text.Task):
    form = InputForm(help="a review's text -> label, its probability and each label's",
                     placeholder="It was not great, but I recommend it.")
    # the preset's words and pairs: saved, restored and exported as trained
    smoke_test = ("task.marks=true", "model.bigram_buckets=1000", "model.bigram_dropout=0.5")
    target = 0.87  # validation accuracy; the foundation's goal for a GRU in 10 minutes

    def read(self) -> dict[str, tuple[list[str], list[str]]]:
        path, _ = locate(self.data_dir, SOURCES, WHERE_TO_GET)
        reviews = read_reviews(path)
        texts, labels, movies = reviews["train"]
        if self.cfg.val_by_movie:
            if None in movies:
                raise DataError(f"{path} has no train/urls_pos.txt and urls_neg.txt naming every review's movie, "
                                "which task.val_by_movie needs")
            split = movie_split(movies, self.seed, None, val=self.cfg.val_fraction)
        else:
            split = seeded_split(len(labels), self.seed, None, val=self.cfg.val_fraction)
        parts = {name: ([texts[i] for i in indices], [LABELS[labels[i]] for i in indices])
                 for name, indices in split.items()}
        texts, labels, _ = reviews["test"]
        test = seeded_split(len(labels), self.seed, None)["train"]  # a seeded order, so limit is random
        parts["test"] = ([texts[i] for i in test], [LABELS[labels[i]] for i in test])
        self.skipped_rows = 0
        return parts

    def label_order(self, labels: list[str]) -> tuple[list[str], list[str]]:
        return LABELS, LABELS

    def saved_labels(self) -> list[str]:
        return LABELS  # runs saved before predictor.json kept the labels
