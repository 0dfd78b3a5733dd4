"""Character-level language model (synced many-to-many): predict the next character at every step.

Data: Tiny Shakespeare through the tensorflow-datasets `tiny_shakespeare` builder and its train / validation /
test split (90 / 5 / 5 % of the text, in order). Offline, the builder is served `tinyshakespeare/input.txt` from
the data dir as its manually downloaded file (the zoo checks it against the builder's registered sha256 and
downloads it there when missing). The prepared dataset is cached in `task.tfds_dir`.
`task.text_file` models any other UTF-8 text instead, split 90 / 5 / 5 the same way.

Truncated backpropagation through time, non-stateful: each split is cut into consecutive windows of
`task.seq_len` characters (the targets are the same window shifted by one character); every window starts from
a zero state, and training windows are shuffled. The loss is the cross-entropy in nats per character.

After every epoch, `task.sample_chars` characters generated from `task.prompt` at `task.temperature` are
appended to samples.txt in the run folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.data import Source, locate, open_text
from zoo.errors import DataError, ZooError
from zoo.lazy import lazy_import
from zoo.task import InputForm, Splits, TaskConfig, batched
from zoo.task import Task as BaseTask
from zoo.validation import require_positive

keras = lazy_import("keras")
tf = lazy_import("tensorflow")

PAD, UNKNOWN = 0, 1  # character ids: then the training text's characters, sorted
SOURCE = "tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # the builder's registered checksum
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


@dataclass
class Config(TaskConfig):
    name: str = "shakespeare"
    topology: str = "synced"
    seq_len: int = 100  # characters per truncated-BPTT window
    prompt: str = "ROMEO:"
    temperature: float = 0.8  # sampling: < 1 sharper, > 1 more random
    sample_chars: int = 300
    text_file: Optional[str] = None  # another corpus (a path, or relative to the data dir) instead of the builder's
    tfds_dir: str = "${oc.env:TFDS_DATA_DIR,'~/tensorflow_datasets'}"  # where the builder keeps prepared data

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "seq_len", "temperature", "sample_chars")
        if not self.prompt:
            raise ZooError("task.prompt must not be empty: sampling continues it")


def tiny_shakespeare(data_dir: Path, tfds_dir: Path) -> dict[str, str]:
    """The builder's train / validation / test texts, prepared from the local copy (downloaded when missing)."""
    import tensorflow_datasets as tfds

    local, _ = locate(data_dir, [Source(SOURCE, SHA256, URL)], f"save {URL} there")
    builder = tfds.builder("tiny_shakespeare", data_dir=str(tfds_dir), try_gcs=False)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(local.parent), try_download_gcs=False))
    return {split: next(iter(tfds.as_numpy(builder.as_dataset(split=split))))["text"].decode("utf-8")
            for split in ("train", "validation", "test")}


def split_text(text: str) -> dict[str, str]:
    """90 / 5 / 5 % in order, as the tiny_shakespeare builder splits."""
    train_end = int(len(text) * 0.9)
    val_end = train_end + int((len(text) - train_end) * 0.5)
    return {"train": text[:train_end], "validation": text[train_end:val_end], "test": text[val_end:]}


class Vocabulary:
    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.ids = {c: i for i, c in enumerate(self.chars, start=UNKNOWN + 1)}

    def __len__(self) -> int:
        return len(self.chars) + UNKNOWN + 1

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.ids.get(c, UNKNOWN) for c in text], dtype="int32")

    def decode(self, ids) -> str:
        return "".join(self.chars[i - UNKNOWN - 1] if i > UNKNOWN else "\ufffd" for i in ids)


def windows(ids: np.ndarray, seq_len: int, limit: Optional[int],
            part: str = "the text") -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows of `seq_len` characters and, for each, the next character at every step."""
    count = min((len(ids) - 1) // seq_len, limit or len(ids))
    if count <= 0:
        raise DataError(f"{part} has {len(ids)} characters, fewer than task.seq_len={seq_len} + 1")
    end = count * seq_len
    return ids[:end].reshape(count, seq_len), ids[1:end + 1].reshape(count, seq_len)


def sample(model: keras.Model, prompt: np.ndarray, length: int, temperature: float, context: int,
           rng: np.random.Generator) -> tuple[list[int], list[float]]:
    """Continue `prompt` by `length` characters, each drawn from the model's softmax at `temperature`; the model
    sees the last `context` characters, as in training. Shorter contexts are padded on the left, where the
    mask makes the RNN skip the padding, so that every call has the same shape and is traced once. Returns the
    ids (prompt first) and the probability each drawn character had."""
    ids, chosen = list(prompt), []
    window = np.zeros((1, context), dtype="int32")
    for _ in range(length):
        recent = ids[-context:]
        window[0, -len(recent):] = recent
        logits = model.predict_on_batch(window)[0, -1].astype("float64") / temperature
        logits[[PAD, UNKNOWN]] = -np.inf
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        ids.append(int(rng.choice(len(probs), p=probs)))
        chosen.append(float(probs[ids[-1]]))
    return ids, chosen


class Task(BaseTask):
    inputs = "tokens"
    outputs = "next"
    form = InputForm(help="a prompt -> its continuation (--length, --temperature, --seed)", placeholder="ROMEO:")
    smoke_test = ("task.text_file=tinyshakespeare_excerpt.txt", "task.sample_chars=30")
    primary_metric = "loss"  # cross-entropy in nats per character
    primary_goal = "min"
    target = 1.88  # nanoGPT's CPU baby-GPT validation loss

    def texts(self) -> dict[str, str]:
        if self.cfg.text_file is None:
            return tiny_shakespeare(self.data_dir, Path(self.cfg.tfds_dir).expanduser())
        path = self.data_dir / self.cfg.text_file  # an absolute text_file replaces the data dir
        if not path.is_file():
            raise DataError(f"task.text_file: {path.resolve()} does not exist")
        try:
            with open_text(path) as f:
                text = f.read()
        except UnicodeDecodeError as e:
            raise DataError(f"task.text_file: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        if not text.strip():
            raise DataError(f"task.text_file: {path} is empty")
        return split_text(text)

    def load(self, batch_size: int):
        texts = self.texts()
        self.test_text = texts["test"]
        self.vocabulary = Vocabulary(texts["train"])
        source = self.cfg.text_file or "tiny_shakespeare"
        data = {name: windows(self.vocabulary.encode(texts[split]), self.cfg.seq_len, self.cfg.limit,
                              f"the {split} part of {source}")
                for name, split in (("train", "train"), ("val", "validation"), ("test", "test"))}
        spec = self.make_spec(input_size=len(self.vocabulary), output_size=len(self.vocabulary))

        def dataset(name: str) -> tf.data.Dataset:
            x, y = data[name]
            return batched(tf.data.Dataset.from_tensor_slices((x, y)), len(x), batch_size, name == "train",
                           self.seed)

        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(x) for name, (x, _) in data.items()})

    def callbacks(self, run_dir: Path) -> list:
        """After every epoch, a sample continuing task.prompt is appended to samples.txt."""

        def write_sample(epoch, logs=None):
            cfg = self.cfg
            ids, _ = sample(writer.model, self.vocabulary.encode(cfg.prompt), cfg.sample_chars, cfg.temperature,
                            cfg.seq_len, np.random.default_rng(self.seed + epoch))
            with open(run_dir / "samples.txt", "a", encoding="utf-8") as f:
                f.write(f"=== epoch {epoch + 1}, temperature {cfg.temperature} ===\n{self.vocabulary.decode(ids)}\n\n")

        writer = keras.callbacks.LambdaCallback(on_epoch_end=write_sample)
        return [writer]

    def extras(self) -> dict:
        return {"characters": len(self.vocabulary.chars)}

    def state(self) -> dict:
        return {"characters": "".join(self.vocabulary.chars)}

    def restore(self, state: dict) -> None:
        self.vocabulary = Vocabulary(state["characters"])

    def answer(self, run, prompts: list[str], length: int | None = None, temperature: float | None = None,
               seed: int = 0, steps: bool = False) -> list[dict]:
        length, temperature = length or self.cfg.sample_chars, temperature or self.cfg.temperature
        if length <= 0 or temperature <= 0:
            raise ZooError("--length and --temperature must be > 0")
        rng, answers = np.random.default_rng(seed), []
        for prompt in prompts:
            ids, chosen = sample(run.model, self.vocabulary.encode(prompt), length, temperature, self.cfg.seq_len, rng)
            answers.append({"text": self.vocabulary.decode(ids[len(prompt):])})
            if steps:  # each generated character with the probability it was drawn with
                answers[-1]["steps"] = [{"token": self.vocabulary.decode([i]), "probability": p}
                                        for i, p in zip(ids[len(prompt):], chosen)]
        return answers

    def test_inputs(self, count: int) -> list[tuple]:
        """Two prompts from the test text (its first two lines, a prompt being one line), with what follows each."""
        lines, start = [], 0
        for line in self.test_text.splitlines(keepends=True)[:min(count, 2)]:
            end = start + len(line.rstrip("\n"))
            lines.append((self.test_text[start:end], self.test_text[end:end + self.cfg.sample_chars]))
            start += len(line)
        return [(prompt, after) for prompt, after in lines if prompt.strip()]
