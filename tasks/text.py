"""Text classification (many-to-one): a text -> one of the labels its training file has. The one path for every
text classifier: `task=text` reads the user's files, `task=imdb` the IMDB tarball, `experiment=nsmc` the Naver
movie reviews; they differ only in where the texts and labels come from (`Task.read`).

Files: CSV (.csv), TSV (.tsv, .txt: tab-separated, no quoting, as NSMC writes it) or JSON Lines (.jsonl, .json),
UTF-8, gzipped or not (.gz), with a header naming `task.text_column` and `task.label_column` (JSON Lines: keys).
`task.train_file`, optionally `task.dev_file` (else validation is a seeded `val_fraction` of train) and
`task.test_file` (else test is a seeded `test_fraction`). Labels are the strings the file has, two or many; rows
whose text is empty are skipped and counted (`skipped_rows` in metrics.json), every other problem is refused in
one line. A path is relative to `paths.data_dir` unless absolute. With `task.id_column` (values unique within a
file), the run also writes `test_predictions.csv`: every test row's id, right label and predicted label, in the
test file's order, so the answers join back to the user's rows.

With `task.standardize=unicode` (text's default) text is NFC-normalized where it enters (file rows, predict's
lines, the demo's box: decomposed Hangul or accents, as some systems write them, are composed), then lower-cased
in any script and stripped of everything that is not a letter, digit, mark or space (with `task.marks`, "!" and
"?" are words). Not NFKC: it rewrites the compatibility jamo Korean reviews are full of ("ㅋㅋ", "ㅠㅠ") into
conjoining jamo, which the exported SavedModel (TensorFlow has no Unicode normalization op) could not repeat;
NFC leaves text as typed unchanged, so the SavedModel and zoo.predict read it alike. `ascii` (imdb's) reads
text as written with Keras's `lower_and_strip_punctuation`, as IMDB's runs were trained. `task.tokens`: words
(split at spaces), chars (every character, spaces too: no tokenizer needed for any language) or subwords
(SentencePiece unigram pieces learned on the training split only). The exported
SavedModel standardizes and splits in TensorFlow.

Every run also scores the baseline practitioners try first on the same split: TF-IDF over word 1-2-grams or
character 1-3-grams (`task.baseline`) and a logistic regression whose C is chosen on the validation split
(`baseline_accuracy`, `baseline_macro_f1`, `baseline_c`).
"""
from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.data import Source, find_file, learn_pieces, read_table
from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import InputForm, Splits, TaskConfig, batched, by_length, class_answer, class_outputs, seeded_split
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions, require_positive

keras = lazy_import("keras")
pd = lazy_import("pandas")
sentencepiece = lazy_import("sentencepiece")
tf = lazy_import("tensorflow")

OTHER_PUNCTUATION = r'["#$%&()\*\+,-\./:;<=>@\[\\\]^_`{|}~\']'  # Keras's standardization less "!" and "?"
NSMC = "https://raw.githubusercontent.com/e9t/nsmc/master/"
BASELINE_C = (0.25, 1.0, 4.0, 16.0)  # the baseline's regularization strengths, one chosen on the validation split
TEST_PREDICTIONS = "test_predictions.csv"  # with task.id_column: each test row's id and answer
KNOWN_FILES = {  # a file the presets name -> the forms it may take under the data dir, and where to fetch it
    f"naver_movie_reviews/ratings_{split}.txt.gz": [
        Source(f"naver_movie_reviews/ratings_{split}.txt.gz", sha256=sha),
        Source(f"naver_movie_reviews/ratings_{split}.txt", url=f"{NSMC}ratings_{split}.txt")]
    for split, sha in (("train", "136729c306ccd1f96c1cd2a1ee2f2126da62522540773bcfafdc1f2568a2aa5e"),
                       ("test", "ec7caf09d6cbc0278e67bd84eef1024523be9d8dc4dc2b2ebe8cfbddf633079d"))}


class Tokens(Enum):
    words = "words split at spaces after standardization"
    chars = "every character (spaces too)"
    subwords = "SentencePiece unigram pieces learned on the training split"


class Standardize(Enum):
    unicode = "NFC, lower-cased in any script, all but letters, digits, marks and spaces dropped"
    ascii = "Keras's lower_and_strip_punctuation (ASCII lower-casing and punctuation)"


class Baseline(Enum):
    words = "TF-IDF of word 1-2-grams + logistic regression"
    chars = "TF-IDF of character 1-3-grams + logistic regression"
    none = "no baseline"


@dataclass
class Reading(TaskConfig):
    """How every text classifier reads its texts: the settings task=text, task=imdb and their presets share."""

    topology: str = "many_to_one"
    val_fraction: float = 0.1  # seeded share of train held out for validation (where no dev file is given)
    tokens: Tokens = Tokens.words
    standardize: Standardize = Standardize.unicode
    marks: bool = False  # keep "!" and "?" as words of their own (all other punctuation is dropped)
    vocabulary_size: int = 20000  # most frequent training tokens (words, characters or pieces) kept
    max_length: int = 400  # tokens kept from the start of each text
    baseline: Baseline = Baseline.chars

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "vocabulary_size", "max_length")
        require_fractions("task", self, "val_fraction")


@dataclass
class Config(Reading):
    name: str = "text"
    train_file: Optional[str] = None
    dev_file: Optional[str] = None  # else validation is a seeded val_fraction of train
    test_file: Optional[str] = None  # else test is a seeded test_fraction of train
    text_column: str = "text"
    label_column: str = "label"
    id_column: Optional[str] = None  # with it, test_predictions.csv gives each test row's id and answer
    label_names: list[str] = field(default_factory=list)  # what answers call the labels, in their sorted order
    test_fraction: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        require_fractions("task", self, "test_fraction")


class Task(BaseTask):
    inputs = "tokens"
    outputs = "class"
    unknown_id = 1
    test_ids = None  # the test rows' ids, in the test file's order, where task.id_column names them
    form = InputForm(help="a text -> label, its probability and each label's",
                     placeholder="It was not great, but I recommend it.")
    smoke_test = ("task.train_file=naver_movie_reviews/ratings_train.txt",
                  "task.test_file=naver_movie_reviews/ratings_test.txt", "task.text_column=document",
                  "task.id_column=id", "task.label_names=[negative,positive]", "task.tokens=chars",
                  "task.baseline=chars")

    # where the texts come from

    def read(self) -> dict[str, tuple[list[str], list[str]]]:
        """{"train", "val", "test": (texts, labels)}, labels as the files write them, texts as written; with
        task.id_column, the test rows' ids in `self.test_ids`."""
        cfg = self.cfg
        if cfg.train_file is None:
            raise DataError("task=text reads task.train_file (CSV, TSV or JSON Lines; and task.test_file, "
                            "task.text_column, task.label_column): give at least the first")
        columns = [cfg.text_column, cfg.label_column, *([cfg.id_column] if cfg.id_column else [])]
        files = {}
        for name, file in (("train", cfg.train_file), ("dev", cfg.dev_file), ("test", cfg.test_file)):
            if file is not None:
                path = find_file(self.data_dir, file, f"task.{name}_file", KNOWN_FILES)
                files[name] = read_table(path, columns)
                if cfg.id_column and (repeated := files[name][cfg.id_column].duplicated()).any():
                    raise DataError(f"{path}: the id column {cfg.id_column!r} repeats "
                                    f"{files[name][cfg.id_column][repeated].iloc[0]!r}; ids must be unique")
        self.skipped_rows = 0
        for name, table in files.items():
            empty = table[cfg.text_column].str.strip() == ""
            self.skipped_rows += int(empty.sum())
            files[name] = table[~empty]
        train = files["train"]
        fractions = {"val": cfg.val_fraction} if "dev" not in files else {}
        fractions |= {"test": cfg.test_fraction} if "test" not in files else {}
        split = seeded_split(len(train), self.seed, None, **fractions)
        parts = {name: train.iloc[indices] for name, indices in split.items()}
        parts |= {"val" if name == "dev" else name: table for name, table in files.items() if name != "train"}
        self.test_ids = list(parts["test"][cfg.id_column]) if cfg.id_column else None
        return {name: (list(table[cfg.text_column]), list(table[cfg.label_column])) for name, table in parts.items()}

    def label_order(self, labels: list[str]) -> tuple[list[str], list[str]]:
        """The classes in id order: as the files write them (the training labels sorted), and as answers show
        them (task.label_names)."""
        order = sorted(set(labels))
        if len(order) < 2:
            raise DataError(f"the training labels ({self.cfg.label_column}) have one class only: {order[0]!r}")
        if self.cfg.label_names and len(self.cfg.label_names) != len(order):
            raise DataError(f"task.label_names names {len(self.cfg.label_names)} labels; the training file has "
                            f"{len(order)}: {', '.join(order[:10])}")
        return order, list(self.cfg.label_names) or order

    def load(self, batch_size: int):
        parts = self.read()
        order, self.labels = self.label_order(parts["train"][1])
        for name in ("val", "test"):
            if unseen := sorted(set(parts[name][1]) - set(order)):
                raise DataError(f"the {name} split has labels the training split lacks: {', '.join(unseen[:5])}")
        index, limit = {label: i for i, label in enumerate(order)}, self.cfg.limit
        parts = {name: (texts[:limit], np.array([index[y] for y in labels[:limit]], dtype="int64"))
                 for name, (texts, labels) in parts.items()}
        self.test_texts = parts["test"]  # as written: test_inputs are what a user would type
        parts = {name: (self.normalized(texts), labels) for name, (texts, labels) in parts.items()}
        self.fit_tokenizer(parts["train"][0])
        self.baseline_scores = self.fit_baseline(parts["train"], parts["val"], parts["test"])

        def dataset(name: str) -> tf.data.Dataset:
            texts, labels = parts[name]
            return batched(tf.data.Dataset.zip(self.id_dataset(texts), tf.data.Dataset.from_tensor_slices(labels)),
                           len(labels), batch_size, name == "train", self.seed, self.cfg.max_length)

        spec = self.make_spec(input_size=self.vocabulary_size(), output_size=len(self.labels))
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(y) for name, (_, y) in parts.items()})

    # tokens

    def fit_tokenizer(self, texts: list[str]) -> None:
        if self.cfg.tokens == Tokens.subwords:
            self.pieces = sentencepiece.SentencePieceProcessor(
                model_proto=learn_pieces(texts, self.cfg.vocabulary_size, pad=0, unknown=self.unknown_id))
        else:
            self.vectorize = self.vectorizer(max_tokens=self.cfg.vocabulary_size)
            self.vectorize.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))

    def vocabulary_size(self) -> int:
        return self.pieces.get_piece_size() if self.cfg.tokens == Tokens.subwords else \
            self.vectorize.vocabulary_size()

    def normalized(self, texts: list[str]) -> list[str]:
        """Texts as they enter: NFC-normalized with task.standardize=unicode, as written with ascii."""
        if self.cfg.standardize == Standardize.ascii:
            return list(texts)
        return [unicodedata.normalize("NFC", text) for text in texts]

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each (normalized) text's token ids, cut at max_length."""
        if self.cfg.tokens == Tokens.subwords:
            return [ids[: self.cfg.max_length] for ids in self.pieces.encode(texts)]
        return [ids[: self.cfg.max_length] for ids in self.vectorize(tf.constant(texts, tf.string)).to_list()]

    def id_dataset(self, texts: list[str]) -> tf.data.Dataset:
        """The texts' token ids as a dataset of variable-length sequences (words and chars: made in TensorFlow)."""
        if self.cfg.tokens == Tokens.subwords:
            ids = self.token_ids(texts)
            flat = tf.constant(np.fromiter((i for text in ids for i in text), dtype="int64"))
            lengths = np.array([len(i) for i in ids], dtype="int64")
            return tf.data.Dataset.from_tensor_slices((np.cumsum(lengths) - lengths, lengths)).map(
                lambda start, length: flat[start:start + length])
        return tf.data.Dataset.from_tensor_slices(texts).map(lambda text: self.vectorize(text)[: self.cfg.max_length],
                                                             tf.data.AUTOTUNE)

    def token_names(self, ids: list[int]) -> list[str]:
        if self.cfg.tokens == Tokens.subwords:
            return [self.pieces.id_to_piece(i) for i in ids]
        vocabulary = self.vectorize.get_vocabulary()
        return [str(vocabulary[i]) for i in ids]

    def vectorizer(self, **kwargs) -> keras.layers.TextVectorization:
        split = "character" if self.cfg.tokens == Tokens.chars else "whitespace"
        return keras.layers.TextVectorization(standardize=self.standardization(), split=split, ragged=True,
                                              **kwargs)

    def standardization(self):
        """task.standardize (and task.marks) as TextVectorization's `standardize`: Keras's own for ascii without
        marks (IMDB's runs), else lower-casing and the removal of every character that is not a letter, digit,
        mark or space (ascii: of ASCII punctuation), "!" and "?" kept apart as words with marks."""
        unicode, marks = self.cfg.standardize == Standardize.unicode, self.cfg.marks
        if not unicode and not marks:
            return "lower_and_strip_punctuation"
        dropped = (r"[^\p{L}\p{N}\p{M}\s!?]" if marks else r"[^\p{L}\p{N}\p{M}\s]") if unicode else OTHER_PUNCTUATION

        def standardize(texts):
            lowered = tf.strings.lower(texts, encoding="utf-8" if unicode else "")
            if marks:
                lowered = tf.strings.regex_replace(lowered, "([!?])", r" \1 ")
            return tf.strings.regex_replace(lowered, dropped, "")

        return standardize

    # the baseline

    def fit_baseline(self, train: tuple, val: tuple, test: tuple) -> dict:
        """TF-IDF n-grams and a logistic regression whose regularization C is chosen, as a practitioner would, by
        accuracy on the validation split (the test split is scored once, with that C)."""
        if self.cfg.baseline == Baseline.none:
            return {}
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score

        ngrams = {"analyzer": "word", "ngram_range": (1, 2)} if self.cfg.baseline == Baseline.words else \
            {"analyzer": "char", "ngram_range": (1, 3)}
        tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True, **ngrams)
        train_x, val_x, test_x = tfidf.fit_transform(train[0]), tfidf.transform(val[0]), tfidf.transform(test[0])
        fitted = {c: LogisticRegression(C=c, max_iter=1000).fit(train_x, train[1]) for c in BASELINE_C}
        best = max(BASELINE_C, key=lambda c: np.mean(fitted[c].predict(val_x) == val[1]))
        predicted = fitted[best].predict(test_x)
        return {"baseline": self.cfg.baseline.value, "baseline_c": best,
                "baseline_accuracy": float(np.mean(predicted == test[1])),
                "baseline_macro_f1": float(f1_score(test[1], predicted, average="macro"))}

    def extras(self) -> dict:
        return {"skipped_rows": self.skipped_rows, "labels": self.labels, **self.baseline_scores}

    def test_metrics(self, predict, splits, run_dir: Path) -> dict:
        """Macro-F1 and each label's precision, recall, F1 and support, counted over the model's test answers."""
        from sklearn.metrics import f1_score, precision_recall_fscore_support

        gold, predicted = [], []
        for inputs, labels in splits.test:
            gold.append(labels.numpy())
            predicted.append(predict(inputs))
        gold, predicted = np.concatenate(gold), np.concatenate(predicted)
        ids = list(range(len(self.labels)))
        report = precision_recall_fscore_support(gold, predicted, labels=ids, zero_division=0)
        if self.test_ids is not None:
            self.write_test_predictions(predict, run_dir / TEST_PREDICTIONS)
        return {"macro_f1": float(f1_score(gold, predicted, labels=ids, average="macro", zero_division=0)),
                "per_label": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                              for name, p, r, f, s in zip(self.labels, *report)}}

    def write_test_predictions(self, predict, path: Path) -> None:
        """Each test row's id, right label and predicted label, in the test file's order."""
        texts, labels = self.test_texts
        predicted = np.zeros(len(texts), dtype="int64")
        for batch, padded in self.padded_batches(texts)[1]:
            predicted[batch] = predict(padded)
        names = np.array(self.labels)
        pd.DataFrame({"id": self.test_ids[: len(texts)], "label": names[labels], "predicted": names[predicted]}) \
            .to_csv(path, index=False)

    # using a trained run

    def state(self) -> dict:
        if self.cfg.tokens == Tokens.subwords:
            tokens = {"pieces": base64.b64encode(self.pieces.serialized_model_proto()).decode("ascii")}
        else:
            tokens = {"vocabulary": [str(word) for word in self.vectorize.get_vocabulary()]}
        return {**tokens, "labels": self.labels}

    def restore(self, state: dict) -> None:
        self.labels = state.get("labels") or self.saved_labels()
        if "pieces" in state:
            self.pieces = sentencepiece.SentencePieceProcessor(model_proto=base64.b64decode(state["pieces"]))
        else:
            self.vectorize = self.vectorizer(vocabulary=state["vocabulary"])

    def saved_labels(self) -> list[str]:
        raise DataError("the run folder's predictor.json has no labels")

    def padded_batches(self, texts: list[str]) -> tuple[list[list[int]], list[tuple[list[int], np.ndarray]]]:
        """The raw texts' token ids (a text with none: the unknown id), and the ids padded in batches of texts of
        similar length, each with the indices of its texts."""
        ids = [text or [self.unknown_id] for text in self.token_ids(self.normalized(texts))]
        return ids, [(batch, keras.utils.pad_sequences([ids[i] for i in batch], padding="post"))
                     for batch in by_length(ids)]

    def answer(self, run, texts: list[str], steps: bool = False) -> list[dict]:
        ids, batches = self.padded_batches(texts)
        probabilities = np.zeros((len(texts), len(self.labels)))
        for batch, padded in batches:
            probabilities[batch] = run.probabilities(padded)
        answers = [class_answer(self.labels, p) for p in probabilities]
        if steps:  # the probabilities after each token: the answer to every prefix of the text
            for answer, text in zip(answers, ids):
                after = run.probabilities(keras.utils.pad_sequences([text[:n] for n in range(1, len(text) + 1)],
                                                                    padding="post"))
                answer["steps"] = [{"token": token, "probabilities": dict(zip(self.labels, map(float, p))), **trace}
                                   for token, p, trace in zip(self.token_names(text), after,
                                                              run.gate_trace(np.array([text])))]
        return answers

    def serving(self, run):
        """A SavedModel endpoint (zoo.export): text strings -> label, probability, probabilities."""
        if self.cfg.tokens == Tokens.subwords:
            raise DataError("zoo.export: subword runs cannot be exported (TensorFlow has no SentencePiece op); "
                            "zoo.predict and zoo.demo answer them")

        def serve(texts):
            ids = self.vectorize(texts)[..., : self.cfg.max_length]
            dense = tf.pad(ids.to_tensor(), [[0, 0], [0, 1]])  # one more padding step: never zero steps wide
            empty = (ids.row_lengths() == 0)[:, None] & (tf.range(tf.shape(dense)[1]) == 0)[None, :]
            return class_outputs(run.model(tf.where(empty, tf.ones_like(dense), dense)), self.labels)  # as answer

        return serve, [tf.TensorSpec([None], tf.string, name="reviews")], [self.vectorize]

    def test_inputs(self, count: int) -> list[tuple]:
        texts, labels = self.test_texts
        return [(str(text), self.labels[label]) for text, label in zip(texts[:count], labels[:count])]
