"""Batches of variable-length sequences in a few fixed shapes (zoo.task.batched), so that XLA compiles a training
step once per shape."""
import itertools
import json

import keras  # noqa: F401  (loaded before TensorFlow, which otherwise finds the tasks' lazy keras half-made)
import numpy as np
import tensorflow as tf
from conftest import TASKS

from zoo.task import BUCKETS, batched, bucket_bounds

LENGTHS = np.random.default_rng(0).integers(1, 60, size=230)


def padded_steps(lengths: np.ndarray, batch_size: int, bounds: list[int]) -> int:
    """The steps all batches pad to when the sequences, longest first, go in batches that pad to a bound."""
    tops = np.sort(lengths)[::-1][::batch_size]
    return sum(min(b for b in bounds if b >= top) for top in tops)


def test_bucket_bounds_pad_as_little_as_any_other_bounds():
    bounds = bucket_bounds(LENGTHS, 16, 3)
    assert len(bounds) == 3 and bounds[-1] == LENGTHS.max()
    tops = np.unique(np.sort(LENGTHS)[::-1][::16])
    best = min(padded_steps(LENGTHS, 16, [*pair, LENGTHS.max()]) for pair in itertools.combinations(tops[:-1], 2))
    assert padded_steps(LENGTHS, 16, bounds) == best
    assert bucket_bounds(np.array([5, 5, 5]), 16, 3) == [5]  # no more bounds than lengths


def sequences(lengths):
    """Sequence i: the ids 1..length (no padding inside), labelled with its length."""
    ragged = tf.ragged.constant([np.arange(1, n + 1) for n in lengths])
    return tf.data.Dataset.from_tensor_slices((ragged, tf.constant(lengths))).map(lambda x, y: (x, y))


def test_every_sequence_comes_once_an_epoch_padded_to_one_of_a_few_lengths():
    data = batched(sequences(LENGTHS), len(LENGTHS), 16, shuffle=True, seed=0, max_length=60, buckets=BUCKETS)
    bounds = bucket_bounds(LENGTHS, 16, BUCKETS)
    epochs = [list(data), list(data)]
    shapes = {tuple(x.shape) for epoch in epochs for x, _ in epoch}
    assert {steps for _, steps in shapes} <= set(bounds) and len(shapes) <= BUCKETS + 1
    assert sorted(size for size, _ in shapes)[1:] == [16] * (len(shapes) - 1)  # one remainder batch at most
    for epoch in epochs:
        seen = np.concatenate([y.numpy() for _, y in epoch])
        assert sorted(seen) == sorted(LENGTHS)  # each sequence once
        for x, y in epoch:  # its own ids, then padding only
            assert (np.count_nonzero(x.numpy(), axis=1) == y.numpy()).all()
    assert [y.numpy().tolist() for _, y in epochs[0]] != [y.numpy().tolist() for _, y in epochs[1]]  # reshuffled


def test_every_tensor_of_a_sequence_pads_its_steps_to_the_bucket_and_nothing_else():
    """pos' examples: (words, each word's characters) and a tag per word."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 30, size=40)
    chars = tf.ragged.constant([rng.integers(1, 9, size=(n, 3)) for n in lengths], ragged_rank=1)
    words = tf.ragged.constant([np.arange(1, n + 1) for n in lengths])
    examples = tf.data.Dataset.from_tensor_slices(((words, chars), words)).map(lambda x, y: ((x[0], x[1]), y))
    for (w, c), tags in batched(examples, len(lengths), 8, shuffle=False, seed=0, max_length=30, buckets=2):
        assert w.shape[1] == c.shape[1] == tags.shape[1] in bucket_bounds(lengths, 8, 2) and c.shape[2] == 3


def test_with_xla_a_run_compiles_its_training_step_once_per_batch_shape(zoo_cli, tmp_path, monkeypatch):
    """TensorFlow's XLA cache writes one file per compiled program: one per shape the training step met."""
    cache = tmp_path / "xla_cache"
    cache.mkdir()
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={cache}")
    result = zoo_cli("task=text", *TASKS["text"], "trainer.epochs=2", "trainer.batch_size=8",
                     "trainer.jit_compile=true", "trainer.verbose=0", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    programs = list(cache.iterdir())
    assert 2 <= len(programs) <= BUCKETS + 1  # 270 training reviews: full batches of a few lengths, a remainder
    assert 0 < record["compile_seconds"] < record["train_seconds"]  # 34 steps an epoch, a few of them compiling
