"""Captioning (one-to-many): an image -> a sentence that describes it.

`task.dataset=digits` (default): 1 to `task.max_digits` real handwritten digits (scikit-learn's bundled UCI
digits, 1,797 8x8 images) side by side on a blank strip; the caption is the digits in words ("four two seven").
The digit images are split first (seeded, 60/20/20), so test strips are made only of digit images that no
training or validation strip used.

`task.dataset=shapes`: 1-3 shapes (circle, square, triangle; red, green, blue, yellow; small or large) drawn in
three slots from left to right, captioned by a small grammar: "a small red circle left of a large blue square".
Generated in memory, seeded.

`task.dataset=flickr8k`: Flickr8k's captions (5 per image, official splits) with images the user provides in
`flickr8k/Flicker8k_Dataset/`; each image becomes a feature vector from an ImageNet-trained
`keras.applications.MobileNetV2`, so the model's input is that vector.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from zoo.data import open_text
from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import SAMPLES, Example, InputForm, Splits, TaskConfig, batched, generated_sizes, uci_digits
from zoo.task import Task as BaseTask
from zoo.validation import require_positive

keras = lazy_import("keras")
sacrebleu = lazy_import("sacrebleu")
tf = lazy_import("tensorflow")

DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.8, 0.1), "blue": (0.1, 0.2, 1.0), "yellow": (1.0, 0.9, 0.1)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 4, "large": 7}  # half-widths in pixels
SLOT = 16  # a shapes scene is 3 slots, each 16 pixels wide, side by side; 32 pixels high
RESERVED = ["", "[start]", "[end]", "[UNK]"]


class Dataset(Enum):
    digits = "UCI handwritten digits side by side, captioned in words"
    shapes = "rendered scenes of 1-3 shapes, captioned by a small grammar"
    flickr8k = "Flickr8k photos (user-provided) and their captions"


@dataclass
class Config(TaskConfig):
    name: str = "captioning"
    topology: str = "one_to_many"
    dataset: Dataset = Dataset.digits
    max_digits: int = 4
    train_examples: int = 20000  # generated images per split (digits, shapes); val and test get a tenth each
    beam_size: int = 1  # 1 = greedy decoding

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "max_digits", "train_examples", "beam_size")


def digit_strips(images: np.ndarray, labels: np.ndarray, count: int, max_digits: int, rng) -> tuple:
    """`count` strips of 1..max_digits digit images (8 x 8*max_digits, blank on the right) and their captions."""
    strips = np.zeros((count, 8, 8 * max_digits, 1), "float32")
    captions = []
    for i in range(count):
        chosen = rng.choice(len(images), rng.integers(1, max_digits + 1))
        for slot, index in enumerate(chosen):
            strips[i, :, 8 * slot:8 * slot + 8, 0] = images[index]
        captions.append(" ".join(DIGIT_WORDS[labels[index]] for index in chosen))
    return strips, captions


def draw(canvas: np.ndarray, shape: str, colour, half: int, cx: int, cy: int) -> None:
    y, x = np.mgrid[: canvas.shape[0], : canvas.shape[1]]
    dx, dy = x - cx, y - cy
    if shape == "circle":
        inside = dx ** 2 + dy ** 2 <= half ** 2
    elif shape == "square":
        inside = (abs(dx) <= half) & (abs(dy) <= half)
    else:  # triangle, apex up
        inside = (dy <= half) & (dy >= -half) & (2 * abs(dx) <= dy + half)
    canvas[inside] = colour


def shape_scenes(count: int, rng) -> tuple:
    """`count` 32x48 RGB scenes of 1-3 shapes in left-to-right slots, and their captions."""
    scenes = np.zeros((count, 2 * SLOT, 3 * SLOT, 3), "float32")
    captions = []
    for i in range(count):
        slots = sorted(rng.choice(3, rng.integers(1, 4), replace=False))
        phrases = []
        for slot in slots:
            shape, colour, size = rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES))
            half = SIZES[size]
            cx = SLOT * slot + SLOT // 2 + rng.integers(-(SLOT // 2 - half), SLOT // 2 - half)  # inside its slot
            cy = rng.integers(half, 2 * SLOT - half)
            draw(scenes[i], shape, COLOURS[colour], half, cx, cy)
            phrases.append(f"a {size} {colour} {shape}")
        captions.append(" left of ".join(phrases))
    return scenes, captions


class Task(BaseTask):
    form = InputForm(help="a PNG or JPEG file (resized to the task's images), or --example N -> a caption (--beam N)",
                     kind="example", image=True)
    smoke_test = ("task.train_examples=300",)
    outputs = "tokens"

    @property
    def inputs(self) -> str:
        return "features" if self.cfg.dataset == Dataset.flickr8k else "image"

    def load(self, batch_size: int):
        images, captions = self.generate() if self.cfg.dataset != Dataset.flickr8k else self.flickr8k()
        words = sorted({w for caption in captions["train"] for w in caption.split()})
        self.words = RESERVED + words
        ids = {w: i for i, w in enumerate(self.words)}
        longest = max(len(c.split()) for part in captions.values() for c in part) + 2
        self.test_images, self.test_captions = images["test"], captions["test"]

        def dataset(name: str) -> tf.data.Dataset:
            targets = keras.utils.pad_sequences(
                [[1, *(ids.get(w, 3) for w in caption.split()), 2] for caption in captions[name]],
                maxlen=longest, padding="post")
            examples = tf.data.Dataset.from_tensor_slices((images[name], targets))
            return batched(examples, len(targets), batch_size, name == "train", self.seed)

        first = images["train"]
        self.image_shape = list(first.shape[1:])
        spec = self.make_spec(input_size=int(np.prod(first.shape[1:])), output_size=len(self.words),
                              output_length=longest,
                              image_shape=tuple(first.shape[1:]) if self.inputs == "image" else None)
        return spec, Splits(dataset("train"), dataset("val"), dataset("test"),
                            sizes={name: len(part) for name, part in captions.items()})

    def generate(self) -> tuple[dict, dict]:
        rng = np.random.default_rng(self.seed)
        counts = generated_sizes(self.cfg.train_examples, self.cfg.limit)
        if self.cfg.dataset == Dataset.shapes:
            parts = {name: shape_scenes(n, rng) for name, n in counts.items()}
        else:
            digits = uci_digits(self.seed)
            parts = {name: digit_strips(*digits[name], n, self.cfg.max_digits, rng) for name, n in counts.items()}
        return {name: part[0] for name, part in parts.items()}, {name: part[1] for name, part in parts.items()}

    def flickr8k(self) -> tuple[dict, dict]:
        folder = self.data_dir / "flickr8k"
        image_dir = folder / "Flicker8k_Dataset"
        if not image_dir.is_dir():
            raise DataError(f"task.dataset=flickr8k needs the Flickr8k photos in {image_dir.resolve()} (the "
                            "Flickr8k_Dataset.zip of the dataset's authors, extracted there); only captions ship "
                            "with the zoo's data")
        try:
            with open_text(folder / "Flickr8k.token.txt.gz") as f:
                lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        except OSError as e:
            raise DataError(f"cannot read Flickr8k captions in {folder}: {e}") from None
        by_image = {}
        for name, caption in lines:
            by_image.setdefault(name.split("#")[0], []).append(" ".join(tokenize(caption)))
        try:
            extractor = keras.applications.MobileNetV2(include_top=False, pooling="avg", weights="imagenet")
        except Exception as e:
            raise DataError(f"task.dataset=flickr8k needs MobileNetV2's ImageNet weights in ~/.keras/models "
                            f"(downloaded by Keras when online): {e}") from None
        images, captions = {}, {}
        for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
            files = (folder / f"Flickr_8k.{split}Images.txt").read_text().split()[: self.cfg.limit]
            pixels = np.stack([keras.utils.img_to_array(keras.utils.load_img(image_dir / f, target_size=(224, 224)))
                               for f in files])
            features = extractor.predict(keras.applications.mobilenet_v2.preprocess_input(pixels), verbose=0)
            images[name] = np.repeat(features, [len(by_image[f]) for f in files], axis=0)
            captions[name] = [c for f in files for c in by_image[f]]
        return images, captions

    def state(self) -> dict:
        return {"words": self.words, "image_shape": self.image_shape}

    def restore(self, state: dict) -> None:
        self.words, self.image_shape = state["words"], state["image_shape"]

    def parse(self, path: str):
        """An image file, resized to the task's images (an 8-pixel-high strip of digits, a shapes scene)."""
        if self.inputs != "image":
            raise DataError("task.dataset=flickr8k models read MobileNetV2 features, not image files; "
                            "give --example N")
        file = Path(path)
        if not file.is_file():
            raise DataError(f"{path}: no such image file")
        height, width, channels = self.image_shape
        try:
            image = keras.utils.load_img(file, color_mode="grayscale" if channels == 1 else "rgb",
                                         target_size=(height, width))
        except Exception as e:  # PIL's errors for files that are not images, or truncated ones
            raise DataError(f"{path} is not a readable PNG or JPEG image: {e}") from None
        return keras.utils.img_to_array(image) / 255.0

    def answer(self, run, images: list, beam: int | None = None) -> list[dict]:
        pixels = np.stack([self.test_image(x.index) if isinstance(x, Example) else x for x in images])
        return [{"text": " ".join(self.words[t] for t in tokens)}
                for tokens in run.ids(pixels, beam_size=beam or self.cfg.beam_size)]

    def test_image(self, index: int) -> np.ndarray:
        """The index-th image of the generated test split (made again, seeded, in a fresh process)."""
        if self.cfg.dataset == Dataset.flickr8k:
            raise DataError("--example N needs a generated dataset (digits, shapes); flickr8k's photos are yours")
        if not hasattr(self, "test_images"):
            self.test_images = self.generate()[0]["test"]
        if not 0 <= index < len(self.test_images):
            raise DataError(f"--example {index}: the test split has examples 0 to {len(self.test_images) - 1}")
        return self.test_images[index]

    def test_inputs(self, count: int) -> list[tuple]:
        return [(Example(i), caption) for i, caption in enumerate(self.test_captions[:count])]

    def test_metrics(self, predict, splits: Splits, run_dir: Path) -> dict:
        """BLEU-1 and BLEU-4 (sacreBLEU, one reference), exact-match accuracy, and 20 samples with a PNG grid."""
        outputs, references = [], []
        for images, targets in splits.test:
            for tokens, target in zip(predict(images.numpy(), beam_size=self.cfg.beam_size), targets.numpy()):
                outputs.append(" ".join(self.words[t] for t in tokens))
                references.append(" ".join(self.words[t] for t in target if t > 2))
        bleu1 = sacrebleu.BLEU(max_ngram_order=1).corpus_score(outputs, [references]).score
        bleu4 = sacrebleu.BLEU().corpus_score(outputs, [references]).score
        samples = [{"reference": r, "output": o} for r, o in zip(references[:SAMPLES], outputs[:SAMPLES])]
        (run_dir / "samples.json").write_text(json.dumps(samples, indent=2) + "\n")
        if self.inputs == "image":
            self.plot_samples(samples, run_dir / "samples.png")
        return {"bleu1": bleu1, "bleu4": bleu4,
                "exact_match": float(np.mean([o == r for o, r in zip(outputs, references)]))}

    def plot_samples(self, samples: list[dict], path: Path) -> None:
        from matplotlib.figure import Figure

        columns = 4
        rows = -(-len(samples) // columns)
        figure = Figure(figsize=(4 * columns, 2 * rows))
        axes = figure.subplots(rows, columns, squeeze=False)
        for ax, sample, image in zip(axes.flat, samples, self.test_images):
            ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
            colour = "green" if sample["output"] == sample["reference"] else "red"
            ax.set_title(sample["output"] or "(empty)", fontsize=8, color=colour)
        for ax in axes.flat:
            ax.axis("off")
        figure.tight_layout()
        figure.savefig(path, dpi=80)


def tokenize(caption: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in caption.lower()).split()]
