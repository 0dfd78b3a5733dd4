"""Part-of-speech tagging (synced many-to-many): every word of a sentence gets its tag (task=video is the
other synced tagger: a label for every frame of a clip).

Universal Dependencies English-EWT r2.16 (official train / dev / test) by default, or any CoNLL-U files
(`task.train_file`, `task.test_file`, and `task.dev_file` or else a seeded `task.val_fraction` of train: any UD
treebank is a pos run from paths alone), parsed with `conllu`; the tag is UPOS or XPOS (`task.tagset`).
Multiword-token ranges and empty nodes are skipped. Words seen fewer than `task.min_count` times in train share
one out-of-vocabulary id, so the model learns what to do with unknown words from the rare training words. With
`task.chars` (default), every word also comes as its characters, which a small per-word character RNN encodes
(the model part is `zoo.topologies.CharacterEncoder`), as in Plank et al. 2016 ("bilty").
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

import conllu
import numpy as np

from zoo.data import Source, find_file, locate, open_text
from zoo.errors import DataError, ZooError
from zoo.lazy import lazy_import
from zoo.task import SAMPLES, InputForm, Splits, TaskConfig, batched, by_length, real_steps, seeded_split
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions, require_positive

keras = lazy_import("keras")
tf = lazy_import("tensorflow")

SHA256 = {  # of the gzipped files (the zoo's shared data) and of the release's own plain files
    "train": ("bd47e08c9e18ec12d319e84df2ccdb272ff6de1d0dba5761117d3caf8b358f7b",
              "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
    "dev": ("41086e3afc9ae572f899c9123f874d6d04a52e374a3d2ac7a6667ce48e3bf3e3",
            "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
    "test": ("29c151eee8846d3f3ef7806c126ecac9932af2317c008c6d6b076c5e14950dbe",
             "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
}
RELEASE = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/en_ewt-ud-{split}.conllu"
WHERE_TO_GET = f"get {RELEASE} into ud_english_ewt/ under the data dir"


class Tagset(Enum):
    upos = "17 universal part-of-speech tags"
    xpos = "Penn Treebank tags"


@dataclass
class Config(TaskConfig):
    name: str = "pos"
    topology: str = "synced"
    tagset: Tagset = Tagset.upos  # checked by Hydra when the config is composed
    min_count: int = 2  # training words seen fewer times map to the out-of-vocabulary id
    chars: bool = True  # also give each word's characters to the model
    word_chars: int = 16  # longer words keep their first and last word_chars/2 characters
    train_file: Optional[str] = None  # CoNLL-U files of another treebank (relative to paths.data_dir or absolute)
    dev_file: Optional[str] = None  # else validation is a seeded val_fraction of the train file's sentences
    test_file: Optional[str] = None
    val_fraction: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "min_count", "word_chars")
        require_fractions("task", self, "val_fraction")
        if (self.train_file is None) != (self.test_file is None) or (self.dev_file and not self.train_file):
            raise DataError("task.train_file and task.test_file go together (task.dev_file optional, with them): "
                            "CoNLL-U files of one treebank")


def sources(split: str) -> list[Source]:
    """The gzipped file (checked), a plain file as it is (e.g. an excerpt), or the release's, downloaded."""
    name = f"ud_english_ewt/en_ewt-ud-{split}.conllu"
    gzipped, plain = SHA256[split]
    return [Source(name + ".gz", sha256=gzipped), Source(name),
            Source(name, sha256=plain, url=RELEASE.format(split=split))]


def read_conllu(path: Path, tagset: str) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per sentence; only the syntactic words (integer ids) count."""
    sentences = []
    try:
        with open_text(path) as f:
            for sentence in conllu.parse_incr(f):
                tokens = [t for t in sentence if isinstance(t["id"], int)]
                sentences.append(([t["form"] for t in tokens], [t[tagset] for t in tokens]))
    except (OSError, EOFError, UnicodeDecodeError, conllu.exceptions.ParseException) as e:
        raise DataError(f"{path} is not a readable CoNLL-U file: {e}") from None
    if not sentences or any(None in tags for _, tags in sentences):
        raise DataError(f"{path} has no sentences with {tagset} tags; is it a CoNLL-U treebank?")
    return sentences


class Task(BaseTask):
    inputs = "tokens"
    outputs = "tags"
    unknown_id = 1
    form = InputForm(help="a sentence, words separated by spaces as in the treebank -> a tag per word",
                     placeholder="The old man the boats .")
    target = 0.946  # UPOS accuracy of bilty's tagger without pretrained embeddings

    def read(self) -> dict[str, list[tuple[list[str], list[str]]]]:
        """The sentences of train, val and test: English-EWT's, or those of the files the settings name."""
        tagset, cfg = self.cfg.tagset.name, self.cfg
        if cfg.train_file is None:
            where = {split: locate(self.data_dir, sources(split), WHERE_TO_GET.format(split=split))[0]
                     for split in ("train", "dev", "test")}
            return {"train": read_conllu(where["train"], tagset), "val": read_conllu(where["dev"], tagset),
                    "test": read_conllu(where["test"], tagset)}
        files = {name: read_conllu(find_file(self.data_dir, file, f"task.{name}_file"), tagset)
                 for name, file in (("train", cfg.train_file), ("dev", cfg.dev_file), ("test", cfg.test_file)) if file}
        if "dev" in files:
            return {"train": files["train"], "val": files["dev"], "test": files["test"]}
        split = seeded_split(len(files["train"]), self.seed, None, val=cfg.val_fraction)
        return {**{name: [files["train"][i] for i in indices] for name, indices in split.items()},
                "test": files["test"]}

    def load(self, batch_size: int):
        splits = {name: sentences[: self.cfg.limit] for name, sentences in self.read().items()}

        train_words = [word for words, _ in splits["train"] for word in words]
        counts = Counter(train_words)
        self.restore({"words": ["", "[UNK]"] + sorted(w for w, n in counts.items() if n >= self.cfg.min_count),
                      "chars": ["", "[UNK]"] + sorted({c for word in train_words for c in word}),
                      "tags": [""] + sorted({tag for _, tags in splits["train"] for tag in tags})})
        self.test_sentences = splits["test"]
        test_words = [word for words, _ in splits["test"] for word in words]
        self.unknown_share = float(np.mean([word not in self.ids for word in test_words]))
        max_length = max(len(words) for part in splits.values() for words, _ in part)

        def dataset(name: str) -> tf.data.Dataset:
            sentences = splits[name]
            x = tf.ragged.constant([self.word_ids(words) for words, _ in sentences])
            y = tf.ragged.constant([[self.tag_ids.get(t, 0) for t in tags] for _, tags in sentences])
            if self.cfg.chars:
                chars = tf.ragged.constant([self.spellings(words) for words, _ in sentences])
                examples = tf.data.Dataset.from_tensor_slices(((x, chars), y)).map(
                    lambda inputs, tags: ((inputs[0], inputs[1].to_tensor()), tags))
            else:
                examples = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda w, t: (w, t))  # ragged -> dense
            return batched(examples, len(sentences), batch_size, name == "train", self.seed, max_length)

        spec = self.make_spec(input_size=len(self.words), output_size=len(self.tags),
                              char_size=len(self.chars) if self.cfg.chars else None)
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(part) for name, part in splits.items()})

    def extras(self) -> dict:
        return {"test_unknown_words": self.unknown_share}  # the share of test words outside the vocabulary

    def state(self) -> dict:
        return {"words": self.words, "chars": self.chars, "tags": self.tags}

    def restore(self, state: dict) -> None:
        self.words, self.chars, self.tags = state["words"], state["chars"], state["tags"]
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.char_ids = {c: i for i, c in enumerate(self.chars)}
        self.tag_ids = {t: i for i, t in enumerate(self.tags)}

    def word_ids(self, words: list[str]) -> list[int]:
        return [self.ids.get(w, 1) for w in words]

    def spellings(self, words: list[str]) -> list[list[int]]:
        """Each word's character ids; longer words keep their first and last word_chars/2 characters."""
        half = self.cfg.word_chars // 2
        return [[self.char_ids.get(c, 1) for c in (w if len(w) <= self.cfg.word_chars else w[:half] + w[-half:])]
                for w in words]

    def encode(self, sentences: list[list[str]]):
        """Sentences (lists of words) as one padded batch of the model's inputs."""
        words = keras.utils.pad_sequences([self.word_ids(s) for s in sentences], padding="post")
        if not self.cfg.chars:
            return words
        chars = np.zeros((*words.shape, min(self.cfg.word_chars, max(len(w) for s in sentences for w in s))), "int32")
        for i, sentence in enumerate(sentences):
            for j, spelling in enumerate(self.spellings(sentence)):
                chars[i, j, :len(spelling)] = spelling
        return words, chars

    def parse(self, text: str) -> list[str]:
        return text.split()

    def answer(self, run, sentences: list[list[str]], steps: bool = False) -> list[dict]:
        tags = [None] * len(sentences)
        for batch in by_length(sentences):
            for i, ids in zip(batch, run.ids(self.encode([sentences[i] for i in batch]))):
                tags[i] = [self.tags[t] for t in ids[:len(sentences[i])]]
        answers = [{"tags": sentence_tags} for sentence_tags in tags]
        if steps:
            for answer, sentence in zip(answers, sentences):
                answer["steps"] = [{"token": word, **trace}
                                   for word, trace in zip(sentence, run.gate_trace(self.encode([sentence])))]
        return answers

    def serving(self, run):
        """A SavedModel endpoint (zoo.export): sentence strings (words split at whitespace) -> `tags`, a string
        per word, "" after each sentence's end. The word and character rules are `word_ids` and `spellings`."""
        if run.topology != "synced":
            raise ZooError("only topology=synced frames models are exported (seq2seq decodes step by step); "
                           "use python -m zoo.predict")
        lookup = {name: keras.layers.StringLookup(vocabulary=vocabulary[2:], mask_token="", oov_token="[UNK]")
                  for name, vocabulary in (("words", self.words), ("chars", self.chars))}
        tag_names, half = tf.constant(self.tags), self.cfg.word_chars // 2

        def spelled(words):
            length = tf.strings.length(words, "UTF8_CHAR")
            ends = (tf.strings.substr(words, tf.zeros_like(length), tf.fill(tf.shape(length), half), "UTF8_CHAR")
                    + tf.strings.substr(words, tf.maximum(length - half, 0), tf.fill(tf.shape(length), half),
                                        "UTF8_CHAR"))
            return tf.strings.unicode_split(tf.where(length > self.cfg.word_chars, ends, words), "UTF-8")

        def serve(sentences):
            words = tf.strings.split(sentences)
            word_ids = lookup["words"](words).to_tensor()
            inputs = word_ids
            if self.cfg.chars:
                inputs = [word_ids, lookup["chars"](tf.ragged.map_flat_values(spelled, words)).to_tensor()]
            tags = tf.gather(tag_names, tf.argmax(run.model(inputs), axis=-1))
            return {"tags": tf.where(word_ids != 0, tags, "")}

        return serve, [tf.TensorSpec([None], tf.string, name="sentences")], list(lookup.values())

    def test_inputs(self, count: int) -> list[tuple]:
        return [(" ".join(words), tags) for words, tags in self.test_sentences[:count]]

    def step_metrics(self, steps: list[tuple], run_dir: Path) -> dict:
        """Macro-F1 over tags, a per-tag report (precision, recall, F1, support) in per_tag.json, and 20 tagged
        test sentences (words outside the vocabulary show as [UNK]) in samples.json."""
        samples = []
        for x, tags, guesses in steps:
            word_ids = tf.nest.flatten(x)[0].numpy()  # ids, without characters
            for words, right, guessed in list(zip(word_ids, tags, guesses))[:SAMPLES - len(samples)]:
                real = right != 0
                samples.append({name: " ".join(vocabulary[i] for i in ids[real]) for name, vocabulary, ids in
                                (("sentence", self.words, words), ("gold", self.tags, right),
                                 ("predicted", self.tags, guessed))})
        (run_dir / "samples.json").write_text(json.dumps(samples, indent=2, ensure_ascii=False) + "\n")
        from sklearn.metrics import classification_report

        gold, predicted = real_steps(steps)
        labels = list(range(1, len(self.tags)))
        report = classification_report(gold, predicted, labels=labels, target_names=self.tags[1:],
                                       output_dict=True, zero_division=0)
        (run_dir / "per_tag.json").write_text(json.dumps(report, indent=2) + "\n")
        return {"macro_f1": report["macro avg"]["f1-score"]}
