"""task=captioning: the generated images and captions, leak-free digit splits, overfitting, metrics and samples."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TEST_DATA, model_config
from sklearn.datasets import load_digits

from tasks import captioning
from zoo import decoding, topologies
from zoo.errors import DataError
from zoo.runner import run
from zoo.task import uci_digits


def load(**config):
    task = captioning.Task(captioning.Config(**config), TEST_DATA, seed=0)
    return task, *task.load(batch_size=16)


def test_digit_captions_name_the_digits_in_order():
    task, spec, splits = load(train_examples=200)
    assert spec.inputs == "image" and spec.image_shape == (8, 32, 1) and splits.sizes == {"train": 200, "val": 20,
                                                                                          "test": 20}
    digits = load_digits()
    words = {image.tobytes(): captioning.DIGIT_WORDS[label]
             for image, label in zip(digits.images / 16.0, digits.target)}
    for image, caption in zip(task.test_images, task.test_captions):
        slots = [image[:, 8 * k:8 * k + 8, 0].astype("float64") for k in range(4)]
        named = [words[slot.tobytes()] for slot in slots if slot.any()]
        assert " ".join(named) == caption and 1 <= len(named) <= 4


def test_test_strips_use_only_test_digit_images():
    task, _, _ = load(train_examples=300)
    pools = uci_digits(task.seed)
    assert sum(len(labels) for _, labels in pools.values()) == len(load_digits().images)  # each image in one pool
    test_pool = {image.tobytes() for image in pools["test"][0]}
    for image in task.test_images:
        for k in range(4):
            slot = image[:, 8 * k:8 * k + 8, 0].astype("float64")
            assert not slot.any() or slot.tobytes() in test_pool


def test_shape_captions_match_the_drawing():
    scenes, captions = captioning.shape_scenes(50, np.random.default_rng(0))
    assert scenes.shape == (50, 32, 48, 3)
    for scene, caption in zip(scenes, captions):
        phrases = caption.split(" left of ")
        filled = [k for k in range(3) if scene[:, 16 * k:16 * k + 16].any()]
        assert len(phrases) == len(filled) and all(p.startswith("a ") and len(p.split()) == 4 for p in phrases)
        for phrase, slot in zip(phrases, filled):
            _, size, colour, shape = phrase.split()
            pixels = scene[:, 16 * slot:16 * slot + 16].reshape(-1, 3)
            painted = pixels[pixels.any(axis=1)]
            assert np.allclose(painted, captioning.COLOURS[colour])
            assert (len(painted) > 100) == (size == "large")  # small shapes cover at most 81 pixels, large at least 113


def test_flickr8k_without_images_names_what_is_missing(tmp_path):
    task = captioning.Task(captioning.Config(dataset=captioning.Dataset.flickr8k), tmp_path, seed=0)
    assert task.inputs == "features"
    with pytest.raises(DataError, match="needs the Flickr8k photos in .*Flicker8k_Dataset"):
        task.load(batch_size=8)


def test_a_tiny_model_overfits_20_captions():
    keras.utils.set_random_seed(0)
    task, spec, splits = load(limit=20)
    model = topologies.one_to_many(spec, "gru", model_config(units=64))
    model.compile(keras.optimizers.Adam(0.003), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, targets = next(iter(splits.train.unbatch().batch(20)))
    batch = tf.data.Dataset.from_tensors((images, targets))
    model.fit(decoding.teacher_forcing(batch, spec).repeat(600), verbose=0)
    decoded = decoding.decode(model, images.numpy(), spec)
    assert decoded == [[t for t in row if t > 2] for row in targets.numpy().tolist()]


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
def test_run_reports_bleu_exact_match_and_samples(make_config, tmp_path, dataset):
    metrics = run(make_config("task=captioning", f"task.dataset={dataset}", "task.train_examples=200",
                              "trainer.epochs=1", "task.beam_size=2"), tmp_path)
    assert {"bleu1", "bleu4", "exact_match", "accuracy"} <= set(metrics["test"])
    assert 0 <= metrics["test"]["exact_match"] <= 1 and 0 <= metrics["test"]["bleu4"] <= 100
    samples = json.loads((tmp_path / "samples.json").read_text())
    assert len(samples) == 20 and all(set(s) == {"reference", "output"} for s in samples)
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
