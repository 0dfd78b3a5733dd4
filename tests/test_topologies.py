"""Every topology builder on small synthetic specs: output shapes, and that a tiny model learns a tiny task."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import topologies
from zoo.cells import CELLS
from zoo.config import ModelConfig
from zoo.errors import IncompatibleTopology
from zoo.task import Spec

MODEL = ModelConfig(units=16, layers=1, bidirectional=False, dropout=0.0, embedding_dim=8)
CLASS_FROM_FEATURES = Spec(inputs="features", input_size=5, outputs="class", output_size=3)
CLASS_FROM_TOKENS = Spec(inputs="tokens", input_size=20, outputs="class", output_size=2)
TAGS = Spec(inputs="tokens", input_size=20, outputs="tags", output_size=4)
TOKENS_FROM_TOKENS = Spec(inputs="tokens", input_size=12, outputs="tokens", output_size=12, output_length=7)
TOKENS_FROM_FEATURES = Spec(inputs="features", input_size=6, outputs="tokens", output_size=12, output_length=7)


def fit(model, x, y, epochs, lr=0.01):
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 2)])
def test_output_shapes(cell, bidirectional, layers):
    model_cfg = ModelConfig(units=8, layers=layers, bidirectional=bidirectional, dropout=0.1, embedding_dim=4)
    features, tokens = np.random.rand(3, 5).astype("float32"), np.random.randint(1, 20, (3, 9))
    assert topologies.one_to_one(CLASS_FROM_FEATURES, cell, model_cfg)(features).shape == (3, 3)
    assert topologies.many_to_one(CLASS_FROM_FEATURES, cell, model_cfg)(features).shape == (3, 3)
    assert topologies.many_to_one(CLASS_FROM_TOKENS, cell, model_cfg)(tokens).shape == (3, 2)
    assert topologies.synced(TAGS, cell, model_cfg)(tokens).shape == (3, 9, 4)
    targets = np.random.randint(1, 12, (3, 6))
    assert topologies.seq2seq(TOKENS_FROM_TOKENS, cell, model_cfg)([tokens % 12, targets]).shape == (3, 6, 12)
    vectors = np.random.rand(3, 6).astype("float32")
    assert topologies.one_to_many(TOKENS_FROM_FEATURES, cell, model_cfg)([vectors, targets]).shape == (3, 6, 12)


def test_one_to_one_sees_a_single_step():
    model = topologies.one_to_one(CLASS_FROM_FEATURES, "gru", MODEL)
    assert model.get_layer("rnn_0").input.shape == (None, 1, 5)
    model = topologies.many_to_one(CLASS_FROM_FEATURES, "gru", MODEL)
    assert model.get_layer("rnn_0").input.shape == (None, 5, 1)


@pytest.mark.parametrize("cell", CELLS)
def test_one_to_one_learns_argmax(cell):
    x = np.random.default_rng(0).normal(size=(600, 5)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    model = fit(topologies.one_to_one(CLASS_FROM_FEATURES, cell, MODEL), x, y, epochs=30)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_many_to_one_remembers_the_first_token(cell):
    rng = np.random.default_rng(0)
    x = rng.integers(3, 20, size=(800, 6))
    x[:, 0] = rng.integers(1, 3, size=800)  # token 1 or 2 first, the answer
    model = fit(topologies.many_to_one(CLASS_FROM_TOKENS, cell, MODEL), x, x[:, 0] - 1, epochs=15)
    assert model.evaluate(x, x[:, 0] - 1, verbose=0)[1] > 0.95


def test_many_to_one_ignores_padding():
    model = topologies.many_to_one(CLASS_FROM_TOKENS, "gru", MODEL)
    unpadded = model(np.array([[4, 5, 6]]))
    padded = model(np.array([[4, 5, 6, 0, 0, 0]]))
    np.testing.assert_allclose(unpadded, padded, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_synced_tags_every_step(cell):
    x = np.random.default_rng(0).integers(1, 20, size=(600, 8))
    y = x % 4  # each step's tag is a function of its own token
    model = fit(topologies.synced(TAGS, cell, MODEL), x, y, epochs=15)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


def copy_task(n, rng):
    """Source: 2-5 tokens from 3..11; target: start, the same tokens reversed, end, padding."""
    sources = np.zeros((n, 5), "int32")
    targets = np.zeros((n, 7), "int32")
    for i in range(n):
        length = rng.integers(2, 6)
        tokens = rng.integers(3, 12, size=length)
        sources[i, :length] = tokens
        targets[i, : length + 2] = [1, *tokens[::-1], 2]
    return sources, targets


def train_generator(model, context, targets, epochs):
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = topologies.teacher_forcing(tf.data.Dataset.from_tensor_slices((context, targets)).batch(32))
    keras.utils.set_random_seed(0)
    model.fit(ds, epochs=epochs, verbose=0)


def unpad(targets):
    return [[t for t in row[1:] if t not in (0, 2)] for row in targets.tolist()]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_seq2seq_learns_to_reverse(cell):
    keras.utils.set_random_seed(0)
    sources, targets = copy_task(1500, np.random.default_rng(0))
    model = topologies.seq2seq(TOKENS_FROM_TOKENS, cell, ModelConfig(64, 1, False, 0.0, 16))
    train_generator(model, sources, targets, epochs=25)
    decoded = topologies.greedy_decode(model, sources[:200], TOKENS_FROM_TOKENS)
    exact = np.mean([d == t for d, t in zip(decoded, unpad(targets[:200]))])
    assert exact > 0.8


def test_one_to_many_overfits_vectors_to_sequences():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    _, targets = copy_task(20, rng)
    vectors = rng.normal(size=(20, 6)).astype("float32")
    model = topologies.one_to_many(TOKENS_FROM_FEATURES, "gru", ModelConfig(32, 1, False, 0.0, 8))
    train_generator(model, vectors, targets, epochs=150)
    assert topologies.greedy_decode(model, vectors, TOKENS_FROM_FEATURES) == unpad(targets)


def test_greedy_decode_respects_the_length_cap():
    model = topologies.one_to_many(TOKENS_FROM_FEATURES, "lstm", MODEL)
    decoded = topologies.greedy_decode(model, np.zeros((4, 6), "float32"), TOKENS_FROM_FEATURES, max_length=3)
    assert all(len(d) <= 3 for d in decoded)


@pytest.mark.parametrize("inputs,outputs,valid", [
    ("features", "class", ["one_to_one", "many_to_one"]),
    ("tokens", "class", ["many_to_one"]),
    ("tokens", "tags", ["synced"]),
    ("tokens", "tokens", ["seq2seq"]),
    ("features", "tokens", ["one_to_many"]),
])
def test_supported_topologies(inputs, outputs, valid):
    assert topologies.supported_topologies(inputs, outputs) == valid
    for name in set(topologies.BUILDERS) - set(valid):
        with pytest.raises(IncompatibleTopology, match=f"cannot use topology={name}.*valid: {', '.join(valid)}"):
            topologies.check(name, "x", inputs, outputs)
