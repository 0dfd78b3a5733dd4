"""Translation (seq2seq many-to-many): an English sentence -> its Spanish translation, or the reverse.

`task.dataset=anki`: the manythings.org Anki English-Spanish pairs from Tatoeba (118,964 pairs; the file the
Keras translation examples read). Pairs are split by their source sentence, seeded, so a source sentence and
all its translations sit in one split only; `task.max_words` keeps pairs whose sides both have at most that
many words. Test BLEU is sacreBLEU's corpus BLEU of the detokenized, greedy- or beam-decoded outputs against
every reference translation of each test source (Tatoeba often has several), case-insensitive, and beside it
the cased score (sacreBLEU's default).

`task.tokens=words` reads and writes lowercased words and punctuation; words rarer than `task.min_count` in
training share one unknown id. `task.tokens=subwords` uses SentencePiece unigram pieces (Kudo 2018), one model
per language learned from the training split only: the text keeps its case and no word is unknown.

`task.dataset=file`: sentence pairs in any languages from `task.train_file` (CSV, TSV or JSON Lines; and
`task.dev_file`, `task.test_file`, else seeded shares of train by source sentence), read from the columns
`task.source_column` and `task.target_column`: swap the two names for the other direction.

`task.dataset=toy`: numbers 0-9999 written out in English and in Spanish ("four hundred twenty one" <->
"cuatrocientos veintiuno"), generated, for trying and testing translation offline in seconds.
"""
from __future__ import annotations

import base64
import functools
import json
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.data import Source, find_file, learn_pieces, locate, open_text, read_table, text_lines
from zoo.errors import DataError, ZooError
from zoo.lazy import lazy_import
from zoo.task import SAMPLES, InputForm, Splits, TaskConfig, batched, by_length, seeded_split
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions, require_positive

keras = lazy_import("keras")
sacrebleu = lazy_import("sacrebleu")
sentencepiece = lazy_import("sentencepiece")
tf = lazy_import("tensorflow")

KERAS_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SOURCES = [
    Source("anki_spa_eng/spa.txt.gz", sha256="83c9e56b2aa9bc5c4b0565252df3a03a493f8b106d609a4c901d81c46687e730"),
    Source("keras/datasets/spa-eng.zip", sha256="0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f",
           url=KERAS_URL),
    Source("anki_spa_eng/spa.txt"),
]
WHERE_TO_GET = f"download {KERAS_URL} into keras/datasets/ under the data dir (or spa.txt from manythings.org/anki)"
DIRECTIONS = ("eng-spa", "spa-eng")
# Sentences are a few words long, so batches hold source sentences of one length: padded steps cost as much as
# real ones, mostly in the output softmax (with imdb's 32-token-wide buckets the first 30 batches of an epoch
# took 1.35x as long; docs/speed.md).
BUCKET_WIDTH = 1
TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")  # words (with their contractions) and single punctuation marks


class Tokens(Enum):
    words = "lowercased words and punctuation marks; rare words share the unknown id"
    subwords = "SentencePiece unigram pieces learned from the training split, cased; nothing is unknown"


class Dataset(Enum):
    anki = "Anki / Tatoeba English-Spanish sentence pairs"
    toy = "numbers 0-9999 in English and Spanish words, generated"
    file = "sentence pairs from task.train_file (and task.dev_file, task.test_file): CSV, TSV or JSON Lines"


@dataclass
class Config(TaskConfig):
    name: str = "translation"
    topology: str = "seq2seq"
    dataset: Dataset = Dataset.anki
    direction: str = "eng-spa"  # eng-spa | spa-eng
    max_words: Optional[int] = 10  # keep pairs with at most this many words on each side; null = all
    tokens: Tokens = Tokens.words
    min_count: int = 5  # words: rarer training words share the unknown id (the output softmax is most of the cost)
    subword_vocabulary: int = 8000  # subwords: pieces per language (at most; fewer when the text has fewer)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    beam_size: int = 1  # 1 = greedy decoding
    write_unknown: bool = True  # words: false = decoding never writes [UNK]; the likeliest known word takes its place
    max_output_words: int = 30  # decoding stops after this many words (pieces, with subwords) if no end token came
    train_file: Optional[str] = None  # dataset=file: pairs in two named columns, any languages, either direction
    dev_file: Optional[str] = None  # else a seeded val_fraction of the train file's source sentences
    test_file: Optional[str] = None  # else a seeded test_fraction
    source_column: str = "source"
    target_column: str = "target"

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "max_words", "min_count", "subword_vocabulary", "beam_size",
                         "max_output_words")
        require_fractions("task", self, "val_fraction", "test_fraction")
        if (self.dataset == Dataset.file) != (self.train_file is not None):
            raise DataError("task.dataset=file reads task.train_file, and only it does: give both")
        if self.direction not in DIRECTIONS:
            raise ZooError(f"task.direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def detokenize(tokens: list[str]) -> str:
    text = re.sub(r" ([.,!?;:%)»])", r"\1", " ".join(tokens))
    return re.sub(r"([¿¡(«]) ", r"\1", text)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(English, Spanish) pairs from spa.txt, gzipped or inside the Keras zip; one `English<TAB>Spanish` a line."""
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                text = archive.read("spa-eng/spa.txt").decode("utf-8")
        else:
            with open_text(path) as f:
                text = f.read()
    except (OSError, EOFError, KeyError, UnicodeDecodeError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable spa.txt: {e}") from None
    pairs = []
    for number, line in enumerate(text_lines(text), 1):
        columns = line.split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise DataError(f"{path} line {number} is not `English<TAB>Spanish`: {line[:60]!r}")
        pairs.append((columns[0].strip(), columns[1].strip()))
    if not pairs:
        raise DataError(f"{path} has no sentence pairs")
    return pairs


ENGLISH_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen").split()
ENGLISH_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SPANISH_ONES = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
                "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco "
                "veintiséis veintisiete veintiocho veintinueve").split()
SPANISH_TENS = "_ _ _ treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
SPANISH_HUNDREDS = ("_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos "
                    "novecientos").split()


def english_number(n: int) -> str:
    thousands, hundreds, rest = n // 1000, n // 100 % 10, n % 100
    words = [f"{ENGLISH_ONES[thousands]} thousand"] if thousands else []
    words += [f"{ENGLISH_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        words.append(ENGLISH_TENS[rest // 10] + (f" {ENGLISH_ONES[rest % 10]}" if rest % 10 else ""))
    elif rest or not words:
        words.append(ENGLISH_ONES[rest])
    return " ".join(words)


def spanish_number(n: int) -> str:
    thousands, hundreds, rest = n // 1000, n // 100 % 10, n % 100
    words = ["mil" if thousands == 1 else f"{SPANISH_ONES[thousands]} mil"] if thousands else []
    if hundreds:
        words.append("cien" if hundreds == 1 and rest == 0 else SPANISH_HUNDREDS[hundreds])
    if rest >= 30:
        words.append(SPANISH_TENS[rest // 10] + (f" y {SPANISH_ONES[rest % 10]}" if rest % 10 else ""))
    elif rest or not words:
        words.append(SPANISH_ONES[rest])
    return " ".join(words)


def toy_pairs() -> list[tuple[str, str]]:
    return [(english_number(n), spanish_number(n)) for n in range(10000)]


# Token ids of both vocabularies: 0 padding, 1 start, 2 end, 3 unknown (the source uses only 0 and 3)
PAD, START, END, UNKNOWN = 0, 1, 2, 3
RESERVED = ["", "[start]", "[end]", "[UNK]"]


class WordVocabulary:
    """Lowercased words and punctuation marks seen at least `min_count` times in training."""

    def __init__(self, words: list[str]):
        self.words = words
        self.ids = {word: i for i, word in enumerate(words)}
        self.unknown = self.ids["[UNK]"]  # 3; 1 in source vocabularies saved before subwords

    @classmethod
    def learn(cls, sentences: list[str], cfg: Config) -> "WordVocabulary":
        counts = Counter(token for sentence in sentences for token in tokenize(sentence))
        return cls(RESERVED + sorted(w for w, n in counts.items() if n >= cfg.min_count))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(w, self.unknown) for w in tokenize(text)]

    def tokens(self, ids) -> list[str]:
        return [self.words[i] for i in ids]

    def decode(self, ids) -> str:
        return detokenize(self.tokens(ids))

    def state(self) -> dict:
        return {"words": self.words}


class PieceVocabulary:
    """A SentencePiece unigram model: any text is a sequence of known pieces, and decoding gives it back as it was."""

    def __init__(self, model: bytes):
        self.model = model
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model)
        self.unknown = UNKNOWN

    @classmethod
    def learn(cls, sentences: list[str], cfg: Config) -> "PieceVocabulary":
        return cls(learn_pieces(sentences, cfg.subword_vocabulary, PAD, UNKNOWN, START, END))

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def tokens(self, ids) -> list[str]:
        return [self.processor.id_to_piece(int(i)) for i in ids]

    def decode(self, ids) -> str:
        return self.processor.decode([int(i) for i in ids])

    def state(self) -> dict:
        return {"pieces": base64.b64encode(self.model).decode("ascii")}


VOCABULARIES = {Tokens.words: WordVocabulary, Tokens.subwords: PieceVocabulary}


def restore_vocabulary(state: dict):
    return PieceVocabulary(base64.b64decode(state["pieces"])) if "pieces" in state else WordVocabulary(state["words"])


class Task(BaseTask):
    inputs = "tokens"
    outputs = "tokens"
    form = InputForm(help="a sentence -> its translation (--beam N)", placeholder="I would like a cup of coffee.")
    smoke_test = ("task.dataset=toy", "task.limit=300")
    xla_unfit = ("a batch pads its sources and targets to their own longest, so its shapes have no small bound and "
                 "XLA would compile nearly every batch")

    def pairs(self, file: str, setting: str) -> list[tuple[str, str]]:
        """(source, target) pairs of a task.dataset=file file: its task.source_column and task.target_column."""
        table = read_table(find_file(self.data_dir, file, setting), [self.cfg.source_column, self.cfg.target_column])
        pairs = [(source.strip(), target.strip()) for source, target in table.itertuples(index=False)]
        if empty := sum(1 for pair in pairs if not all(pair)):
            raise DataError(f"{file}: {empty} rows have an empty source or target sentence")
        return pairs

    def split_references(self) -> dict[str, dict[str, list[str]]]:
        """Each split's source sentences, each with every translation of it; pairs longer than max_words left
        out. From one pool (anki, toy, or a train file alone), split by source sentence, seeded; or from the
        dev and test files as they are."""
        cfg = self.cfg
        if cfg.dataset == Dataset.file:
            pools = {name: self.pairs(file, f"task.{name}_file")
                     for name, file in (("train", cfg.train_file), ("val", cfg.dev_file), ("test", cfg.test_file))
                     if file}
        elif cfg.dataset == Dataset.toy:
            pools = {"train": toy_pairs()}
        else:
            pools = {"train": read_pairs(locate(self.data_dir, SOURCES, WHERE_TO_GET)[0])}
        if cfg.dataset != Dataset.file and cfg.direction == "spa-eng":
            pools = {name: [(spanish, english) for english, spanish in pairs] for name, pairs in pools.items()}
        references = {}
        for name, pairs in pools.items():
            references[name] = defaultdict(list)  # source -> every translation of it
            for source, target in pairs:
                if not cfg.max_words or max(len(source.split()), len(target.split())) <= cfg.max_words:
                    references[name][source].append(target)
        sources = list(references["train"])
        fractions = {name: getattr(cfg, f"{name}_fraction") for name in ("val", "test") if name not in references}
        for name, indices in seeded_split(len(sources), self.seed, None, **fractions).items():
            references[name] = {sources[i]: references["train"][sources[i]] for i in indices}
        return {name: dict(list(part.items())[: cfg.limit]) for name, part in references.items()}

    def load(self, batch_size: int):
        references = self.split_references()
        if not references["train"] or not references["test"]:
            raise DataError(f"too few sentence pairs ({sum(map(len, references.values()))} source sentences) for "
                            "train, val and test splits")
        self.split_sources = {name: list(part) for name, part in references.items()}
        train_pairs = [(s, t) for s, targets in references["train"].items() for t in targets]
        learn = VOCABULARIES[self.cfg.tokens].learn
        self.source_vocabulary = learn([s for s, _ in train_pairs], self.cfg)
        self.target_vocabulary = learn([t for _, t in train_pairs], self.cfg)
        self.test_sources = list(references["test"])
        self.test_references = list(references["test"].values())

        def dataset(name: str) -> tf.data.Dataset:
            split_pairs = [(s, t) for s, targets in references[name].items() for t in targets]
            x = tf.ragged.constant([self.encode_source(s) for s, _ in split_pairs], dtype=tf.int32)
            y = tf.ragged.constant([[START, *self.target_vocabulary.encode(t), END] for _, t in split_pairs],
                                   dtype=tf.int32)
            examples = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda s, t: (s, t))  # ragged -> dense
            return batched(examples, len(split_pairs), batch_size, name == "train", self.seed, self.max_length,
                           bucket_width=BUCKET_WIDTH)

        self.max_length = max(len(self.encode_source(s)) for part in references.values() for s in part)
        spec = self.make_spec(input_size=len(self.source_vocabulary), output_size=len(self.target_vocabulary),
                              output_length=self.cfg.max_output_words + 2)
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: sum(map(len, part.values())) for name, part in references.items()})

    def encode_source(self, sentence: str) -> list[int]:
        """Source token ids; a sentence with no words reads as one unknown word (a sequence needs a step)."""
        return self.source_vocabulary.encode(sentence) or [self.source_vocabulary.unknown]

    def translate(self, predict, sentences: list[str], beam: int | None = None) -> list[list[int]]:
        """Decoded target ids, in batches of similar length (short batches finish early), in the input order,
        with the task's beam size (or `beam`) and unknown-word setting."""
        exclude = () if self.cfg.write_unknown else (self.target_vocabulary.unknown,)
        decode = functools.partial(predict, beam_size=beam or self.cfg.beam_size, exclude=exclude)
        sources = [self.encode_source(sentence) for sentence in sentences]
        outputs = [[]] * len(sentences)
        for batch in by_length(sources):
            for i, tokens in zip(batch, decode(keras.utils.pad_sequences([sources[i] for i in batch], padding="post"))):
                outputs[i] = tokens
        return outputs

    def state(self) -> dict:
        return {"source": self.source_vocabulary.state(), "target": self.target_vocabulary.state()}

    def restore(self, state: dict) -> None:
        if "source_words" in state:  # saved before subwords
            state = {side: {"words": state[f"{side}_words"]} for side in ("source", "target")}
        self.source_vocabulary = restore_vocabulary(state["source"])
        self.target_vocabulary = restore_vocabulary(state["target"])

    def answer(self, run, sentences: list[str], beam: int | None = None, steps: bool = False) -> list[dict]:
        outputs = self.translate(run.ids, sentences, beam)
        answers = [{"text": self.target_vocabulary.decode(ids)} for ids in outputs]
        if steps:  # source words against output words, and the encoder's gates
            for answer, sentence, ids in zip(answers, sentences, outputs):
                source = np.array([self.encode_source(sentence)])
                weights = run.attention(source, ids)
                answer["source_tokens"] = self.source_vocabulary.tokens(source[0])
                answer["output_tokens"] = self.target_vocabulary.tokens(ids)
                if weights is not None:
                    answer["attention"] = weights[:len(ids)].tolist()
                answer["steps"] = [{"token": token, **trace}
                                   for token, trace in zip(answer["source_tokens"], run.gate_trace(source))]
        return answers

    def test_inputs(self, count: int) -> list[tuple]:
        return list(zip(self.test_sources[:count], self.test_references[:count]))

    def test_metrics(self, predict, splits: Splits, run_dir: Path) -> dict:
        """Corpus BLEU of the decoded test sources against all their references, and 20 samples."""
        hypotheses = [self.target_vocabulary.decode(ids) for ids in
                      self.translate(predict, self.test_sources)]
        most = max(len(refs) for refs in self.test_references)
        streams = [[refs[i] if i < len(refs) else None for refs in self.test_references] for i in range(most)]
        bleu, cased = sacrebleu.BLEU(lowercase=True), sacrebleu.BLEU()
        all_references = bleu.corpus_score(hypotheses, streams)
        all_references_cased = cased.corpus_score(hypotheses, streams)
        self.bleu_signatures = {"bleu": str(bleu.get_signature()), "bleu_cased": str(cased.get_signature())}
        first_reference = bleu.corpus_score(hypotheses, streams[:1])
        picks = np.random.default_rng(self.seed).choice(len(hypotheses), min(SAMPLES, len(hypotheses)), replace=False)
        samples = [{"source": self.test_sources[i], "references": self.test_references[i], "output": hypotheses[i]}
                   for i in sorted(picks)]
        (run_dir / "samples.json").write_text(json.dumps(samples, indent=2, ensure_ascii=False) + "\n")
        return {"bleu": all_references.score, "bleu_first_reference": first_reference.score,
                "bleu_cased": all_references_cased.score}

    def extras(self) -> dict:
        signatures = getattr(self, "bleu_signatures", {})
        return {"bleu_signature": signatures.get("bleu"), "bleu_cased_signature": signatures.get("bleu_cased")}
