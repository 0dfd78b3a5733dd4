"""Every topology builder on small synthetic specs: output shapes, and that a tiny model learns a tiny task."""
import dataclasses
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import model_config
from omegaconf import OmegaConf

import tasks
from zoo import decoding, layers, topologies
from zoo.cells import CELLS
from zoo.config import Attention, Pooling
from zoo.errors import IncompatibleTopology, ZooError
from zoo.rules import check_combination, checked, supported_topologies
from zoo.task import Spec

MODEL = model_config()
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
    model_cfg = model_config(units=8, layers=layers, bidirectional=bidirectional, dropout=0.1, embedding_dim=4)
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
def test_unrolled_model_computes_the_same_outputs(cell):
    features = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    looped = topologies.many_to_one(CLASS_FROM_FEATURES, cell, MODEL)
    unrolled = topologies.many_to_one(CLASS_FROM_FEATURES, cell, model_config(unroll=True))
    unrolled.set_weights(looped.get_weights())
    np.testing.assert_allclose(unrolled(features), looped(features), atol=1e-5)


def test_unroll_refuses_sequences_of_varying_length():
    with pytest.raises(ZooError, match="model.unroll=true needs sequences of one fixed length"):
        topologies.many_to_one(CLASS_FROM_TOKENS, "gru", model_config(unroll=True))


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


@pytest.mark.parametrize("pooling", list(Pooling))
@pytest.mark.parametrize("bidirectional,bigram_buckets", [(False, 0), (True, 0), (False, 50)])
def test_many_to_one_ignores_padding(pooling, bidirectional, bigram_buckets):
    model = topologies.many_to_one(CLASS_FROM_TOKENS, "gru", model_config(
        pooling=pooling, bidirectional=bidirectional, bigram_buckets=bigram_buckets))
    unpadded = model(np.array([[4, 5, 6]]))
    padded = model(np.array([[4, 5, 6, 0, 0, 0], [4, 5, 6, 7, 8, 9]]))[:1]  # padding, and beside a longer one
    np.testing.assert_allclose(unpadded, padded, atol=1e-5)


def test_cell_none_answers_each_step_from_that_step_alone():
    synced = topologies.synced(TAGS, "none", MODEL)
    before, after = synced(np.array([[4, 5, 6]])), synced(np.array([[9, 5, 6]]))  # only the first step differs
    assert not np.allclose(before[0, 0], after[0, 0])
    np.testing.assert_allclose(before[0, 1:], after[0, 1:], atol=1e-6)
    last = topologies.many_to_one(CLASS_FROM_TOKENS, "none", MODEL)  # the last real step, padding skipped
    np.testing.assert_allclose(last(np.array([[4, 5, 6]])), last(np.array([[9, 5, 6, 0, 0], [1, 2, 3, 4, 5]]))[:1],
                               atol=1e-6)


@pytest.mark.parametrize("pooling", [Pooling.max, Pooling.mean, Pooling.attention])
def test_pooled_many_to_one_finds_a_token_anywhere(pooling):
    """Is token 2 anywhere in the sequence? A pooled model answers from every step."""
    rng = np.random.default_rng(0)
    x = rng.integers(3, 20, size=(800, 8))
    y = rng.integers(0, 2, size=800)
    x[y == 1, rng.integers(0, 8, size=int(y.sum()))] = 2
    model = fit(topologies.many_to_one(CLASS_FROM_TOKENS, "gru", model_config(pooling=pooling)), x, y, epochs=10)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


def test_attention_pooling_weighs_real_steps_only():
    model = topologies.many_to_one(CLASS_FROM_TOKENS, "lstm", model_config(pooling=Pooling.attention))
    pooling = model.get_layer("pooling")
    states = keras.Model(model.input, model.get_layer("rnn_0").output)(np.array([[4, 5, 6, 0, 0]]))
    weights = pooling.weights_over_steps(states, np.array([[True, True, True, False, False]])).numpy()
    np.testing.assert_allclose(weights[0, 3:], 0, atol=1e-6)
    assert weights[0, :3].sum() == pytest.approx(1, abs=1e-6) and (weights[0, :3] > 0).all()


@pytest.mark.parametrize("pooling,bigram_buckets", [(Pooling.max, 0), (Pooling.attention, 0), (Pooling.attention, 50)])
def test_a_pooled_model_saves_and_loads(tmp_path, pooling, bigram_buckets):
    model = topologies.many_to_one(CLASS_FROM_TOKENS, "gru", model_config(pooling=pooling,
                                                                          bigram_buckets=bigram_buckets))
    model.save(tmp_path / "model.keras")
    x = np.array([[4, 5, 6, 0], [7, 8, 9, 10]])
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "model.keras")(x), model(x), atol=1e-6)


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


def train_generator(model, spec, context, targets, epochs):
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = decoding.teacher_forcing(tf.data.Dataset.from_tensor_slices((context, targets)).batch(32), spec)
    keras.utils.set_random_seed(0)
    model.fit(ds, epochs=epochs, verbose=0)


def unpad(targets):
    return [[t for t in row[1:] if t not in (0, 2)] for row in targets.tolist()]


@pytest.mark.parametrize("cell,attention", [("lstm", Attention.none), ("gru", Attention.luong),
                                            ("gru", Attention.bahdanau)])
def test_seq2seq_learns_to_reverse(cell, attention):
    keras.utils.set_random_seed(0)
    sources, targets = copy_task(1500, np.random.default_rng(0))
    model = topologies.seq2seq(TOKENS_FROM_TOKENS, cell, model_config(units=64, embedding_dim=16, attention=attention))
    train_generator(model, TOKENS_FROM_TOKENS, sources, targets, epochs=25)
    for beam_size in (1, 3):
        decoded = decoding.decode(model, sources[:200], TOKENS_FROM_TOKENS, beam_size=beam_size)
        assert np.mean([d == t for d, t in zip(decoded, unpad(targets[:200]))]) > 0.8
        excluded = decoded[0][0]
        without = decoding.decode(model, sources[:200], TOKENS_FROM_TOKENS, beam_size=beam_size, exclude=(excluded,))
        assert not any(excluded in row for row in without)
        if beam_size == 1:  # a greedy answer changes only where the excluded id was the likeliest
            assert all(w == d for w, d in zip(without, decoded) if excluded not in d)


def test_attention_layers_and_where_they_apply(make_config):
    for attention, layer in topologies.ATTENTION.items():
        model = topologies.build("seq2seq", TOKENS_FROM_TOKENS, "gru", model_config(attention=attention))
        assert isinstance(model.get_layer("attention"), layer)
    with pytest.raises(ZooError, match="model.attention=luong needs an encoder sequence.*topology=one_to_many"):
        checked(make_config("task=captioning", "topology=one_to_many", "model.attention=luong"))


def test_teacher_forcing_masks_exactly_the_target_tokens():
    targets = np.array([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]])
    (_, decoder_in), next_tokens = next(iter(decoding.teacher_forcing(
        tf.data.Dataset.from_tensors((np.zeros((2, 3)), targets)), TOKENS_FROM_TOKENS)))
    np.testing.assert_array_equal(decoder_in, [[1, 5, 6, 0], [1, 7, 0, 0]])  # no input after the end token
    np.testing.assert_array_equal(next_tokens, [[5, 6, 2, 0], [7, 2, 0, 0]])
    tags = np.array([[3, 1, 2], [2, 0, 0]])  # tags have no start token: the decoder's starts past the tags
    (_, decoder_in), next_tokens = next(iter(decoding.teacher_forcing(
        tf.data.Dataset.from_tensors((np.zeros((2, 3)), tags)), TAGS)))
    np.testing.assert_array_equal(decoder_in, [[4, 3, 1], [4, 0, 0]])
    np.testing.assert_array_equal(next_tokens, tags)


def test_seq2seq_padding_changes_neither_loss_nor_accuracy():
    model = topologies.seq2seq(TOKENS_FROM_TOKENS, "gru", model_config(attention=Attention.luong))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    source, target = np.array([[3, 4, 5]]), np.array([[1, 6, 7, 2]])

    def evaluate(source_padding, target_padding):
        padded = tf.data.Dataset.from_tensors((np.pad(source, ((0, 0), (0, source_padding))),
                                               np.pad(target, ((0, 0), (0, target_padding)))))
        return model.evaluate(decoding.teacher_forcing(padded, TOKENS_FROM_TOKENS), verbose=0)

    np.testing.assert_allclose(evaluate(0, 0), evaluate(4, 3), rtol=1e-5)


def test_smoothed_loss_is_a_hand_count_over_real_steps_and_survives_saving(tmp_path):
    smoothing = 0.1
    model = topologies.seq2seq(TOKENS_FROM_TOKENS, "gru", model_config(attention=Attention.luong))
    model.compile(loss=layers.SmoothedCrossentropy(smoothing))
    source, target = np.array([[3, 4, 5, 0]]), np.array([[1, 6, 7, 2, 0, 0]])
    data = decoding.teacher_forcing(tf.data.Dataset.from_tensors((source, target)), TOKENS_FROM_TOKENS)
    (context, decoder_in), next_tokens = next(iter(data))
    log_probs = keras.ops.convert_to_numpy(keras.ops.log_softmax(model.predict_on_batch([context, decoder_in]), -1))
    real = next_tokens.numpy()[0] != 0
    right = log_probs[0, np.arange(real.size), next_tokens.numpy()[0]]
    by_hand = (-(1 - smoothing) * right - smoothing * log_probs[0].mean(-1))[real].mean()
    assert model.evaluate(data, verbose=0) == pytest.approx(by_hand, rel=1e-5)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.loss.smoothing == smoothing
    assert reloaded.evaluate(data, verbose=0) == pytest.approx(by_hand, rel=1e-5)


def test_seq2seq_tags_one_per_input_step():
    model = topologies.seq2seq(TAGS, "lstm", MODEL)
    tokens = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
    for beam_size in (1, 2):
        tags = decoding.predict(model, TAGS, "seq2seq", tokens, beam_size=beam_size)
        assert tags.shape == (2, 4) and set(tags.ravel()) <= {1, 2, 3}  # never padding, never the start id


def test_character_encoder_sees_each_word_alone():
    encoder = layers.CharacterEncoder("gru", char_size=10, units=4)
    words = np.array([[[3, 4, 0], [5, 0, 0], [0, 0, 0]]])
    encoded = encoder(words).numpy()
    assert encoded.shape == (1, 3, 8)
    np.testing.assert_allclose(encoded[0, 2], 0)  # a padding word encodes to zeros
    alone = encoder(np.array([[[5, 0, 0, 0, 0]]])).numpy()  # same word, other neighbours and padding
    np.testing.assert_allclose(encoded[0, 1], alone[0, 0], atol=1e-6)


CHARS = {"char_size": 9}


@pytest.mark.parametrize("topology,spec,attention", [
    ("many_to_one", dataclasses.replace(CLASS_FROM_TOKENS, **CHARS), Attention.none),
    ("synced", dataclasses.replace(TAGS, **CHARS), Attention.none),
    ("seq2seq", dataclasses.replace(TAGS, **CHARS), Attention.luong),
    ("seq2seq", dataclasses.replace(TOKENS_FROM_TOKENS, **CHARS), Attention.bahdanau),
])
def test_padding_changes_no_output_at_real_steps_with_characters(topology, spec, attention):
    """Words joined with their characters (a bidirectional RNN reads them, the decoder attends over them):
    padding words after a sentence change none of its outputs."""
    keras.utils.set_random_seed(0)
    model = topologies.build(topology, spec, "gru", model_config(bidirectional=True, attention=attention))
    words, chars = np.array([[3, 4, 5]]), np.array([[[3, 4], [5, 0], [6, 7]]])
    padded = [np.pad(words, ((0, 0), (0, 4))), np.pad(chars, ((0, 0), (0, 4), (0, 3)))]
    if topology == "seq2seq":  # the decoder reads the same three steps either way
        decoder_in = np.array([[spec.decoder_start, 2, 3]])
        alone = model.predict_on_batch([[words, chars], decoder_in])
        in_padding = model.predict_on_batch([padded, decoder_in])
    else:
        alone, in_padding = model.predict_on_batch([words, chars]), model.predict_on_batch(padded)
        in_padding = in_padding[:, :3] if topology == "synced" else in_padding
    np.testing.assert_allclose(alone, in_padding, atol=1e-5)


@pytest.mark.parametrize("topology,spec", [("many_to_one", CLASS_FROM_TOKENS), ("synced", TAGS),
                                           ("synced", dataclasses.replace(TAGS, **CHARS))])
def test_an_xla_training_step_on_padded_sequences_changes_the_weights_as_on_the_unpadded_ones(topology, spec):
    """What the zoo's runs compile with XLA (trainer.jit_compile): the training step, on batches padded to a bucket's
    length."""
    words, tags = np.array([[3, 4, 5], [6, 7, 8]]), np.array([[1, 2, 3], [3, 2, 1]])
    chars = np.array([[[3, 4], [5, 0], [6, 7]], [[8, 0], [3, 3], [4, 0]]])
    labels = tags if spec.outputs == "tags" else np.array([0, 1])

    def trained(padding: int):
        keras.utils.set_random_seed(0)
        model = topologies.build(topology, spec, "gru", model_config(bidirectional=True))
        model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=True)
        x = np.pad(words, ((0, 0), (0, padding)))
        x = [x, np.pad(chars, ((0, 0), (0, padding), (0, 0)))] if spec.char_size else x
        y = np.pad(labels, ((0, 0), (0, padding))) if spec.outputs == "tags" else labels
        loss = model.train_on_batch(x, y)
        return loss, model.get_weights()

    (loss, weights), (padded_loss, padded_weights) = trained(0), trained(5)
    assert loss == pytest.approx(padded_loss, rel=1e-5)
    for alone, padded in zip(weights, padded_weights):
        np.testing.assert_allclose(alone, padded, atol=1e-6)


def test_word_dropout_turns_only_real_words_unknown_and_only_in_training(make_config):
    layer = layers.WordDropout(0.5, unknown_id=1)
    ids = np.array([[5, 6, 7, 8, 9, 10, 0, 0]] * 50)
    dropped = layer(ids, training=True).numpy()
    assert set(np.unique(dropped[ids != 0])) - set(range(5, 11)) == {1} and np.all(dropped[ids == 0] == 0)
    assert 0.4 < np.mean(dropped[ids != 0] == 1) < 0.6
    np.testing.assert_array_equal(layer(ids, training=False), ids)
    with pytest.raises(ZooError, match="model.word_dropout needs a task whose words have an unknown-word id"):
        checked(make_config("task=translation", "model.word_dropout=0.2"))
    model = topologies.build("synced", dataclasses.replace(TAGS, unknown_id=1), "gru", model_config(word_dropout=0.2))
    assert isinstance(model.layers[1], layers.WordDropout)


def test_bigram_hash_gives_each_word_pair_one_bucket_and_padding_and_the_unknown_pair_none_of_their_own():
    layer = layers.BigramHash(1000)
    ids = layer(np.array([[4, 5, 4, 5, 0, 0], [7, 4, 5, 9, 3, 2]])).numpy()
    assert ids[0, 1] == ids[0, 3] == ids[1, 2]  # "4 5" wherever it stands
    assert ids[0, 0] != ids[0, 2] and ids[0, 1] != ids[0, 2]  # "<start> 4" and "5 4" are other pairs
    assert ((2 <= ids[:, :4]) & (ids[:, :4] < 1000)).all() and (ids[0, 4:] == 0).all()  # padding stays padding
    np.testing.assert_array_equal(layer(np.array([[4, 5, 4]])).numpy()[0], ids[0, :3])  # padding changes none
    pairs = 59 * 59  # of the 59 most frequent words, in 100,000 buckets: by chance about 60 pairs share one
    frequent = layers.BigramHash(100_000)(np.array([[a, b] for a in range(1, 60) for b in range(1, 60)]))
    assert len(set(frequent.numpy()[:, 1])) > pairs - 3 * pairs**2 / (2 * 100_000)


def test_a_bigram_hash_saved_before_the_unknown_pair_hashes_as_it_did():
    saved = {"name": "bigram_hash", "trainable": True, "dtype": "float32", "buckets": 1000}  # as saved then
    ids = np.array([[4, 5, 9, 0]])
    old = layers.BigramHash.from_config(saved)(ids).numpy()[0]
    previous = np.array([0, 4, 5])
    np.testing.assert_array_equal(old, [*(1 + (previous * layers.BigramHash.MULTIPLIER + ids[0, :3]) % 999), 0])
    new = layers.BigramHash.from_config(layers.BigramHash(1000).get_config())(ids).numpy()[0]
    np.testing.assert_array_equal(new, [*(2 + (previous * layers.BigramHash.MULTIPLIER + ids[0, :3]) % 998), 0])


def test_pairs_are_of_the_words_as_written_and_pair_dropout_drops_them_in_training_only():
    model = topologies.many_to_one(dataclasses.replace(CLASS_FROM_TOKENS, unknown_id=1), "gru",
                                   model_config(word_dropout=0.5, bigram_buckets=50, bigram_dropout=0.3))
    pair_ids = keras.Model(model.input, model.get_layer("bigram_dropout").output)
    words = np.random.default_rng(0).integers(2, 20, size=(200, 30))
    words[:, 25:] = 0
    written = layers.BigramHash(50)(words).numpy()
    np.testing.assert_array_equal(pair_ids(words, training=False).numpy(), written)
    trained = pair_ids(words, training=True).numpy()
    unknown = trained == layers.BigramHash.UNKNOWN_PAIR
    assert 0.27 < unknown[:, :25].mean() < 0.33 and not unknown[:, 25:].any()
    np.testing.assert_array_equal(trained[~unknown], written[~unknown])  # word dropout (0.5) changed no pair


def test_bigrams_let_a_model_without_memory_read_word_order():
    """Does "3 4" stand anywhere in the sequence, where every sequence holds a 3 and a 4? cell=none reads each
    step alone, so only the pair's own embedding can tell "3 4" from "4 3" or "3 9 4"."""
    rng = np.random.default_rng(0)
    x = rng.integers(5, 20, size=(1000, 8))
    y = rng.integers(0, 2, size=1000)
    for row, label in zip(x, y):
        at = rng.choice(7)
        row[at: at + 2] = [3, 4] if label else [4, 3]
    accuracy = {}
    for buckets in (0, 500):
        model = topologies.many_to_one(CLASS_FROM_TOKENS, "none",
                                       model_config(pooling=Pooling.max, bigram_buckets=buckets))
        accuracy[buckets] = fit(model, x, y, epochs=10).evaluate(x, y, verbose=0)[1]
    assert accuracy[0] < 0.7 and accuracy[500] > 0.95


def test_one_to_many_overfits_vectors_to_sequences():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    _, targets = copy_task(20, rng)
    vectors = rng.normal(size=(20, 6)).astype("float32")
    model = topologies.one_to_many(TOKENS_FROM_FEATURES, "gru", model_config(units=32))
    train_generator(model, TOKENS_FROM_FEATURES, vectors, targets, epochs=150)
    assert decoding.decode(model, vectors, TOKENS_FROM_FEATURES) == unpad(targets)


def test_decode_respects_the_length_cap():
    model = topologies.one_to_many(TOKENS_FROM_FEATURES, "lstm", MODEL)
    decoded = decoding.decode(model, np.zeros((4, 6), "float32"), TOKENS_FROM_FEATURES, max_length=3)
    assert all(len(d) <= 3 for d in decoded)


@pytest.mark.parametrize("inputs,outputs,valid", [
    ("features", "class", ["one_to_one", "many_to_one"]),
    ("tokens", "class", ["many_to_one"]),
    ("tokens", "tags", ["synced", "seq2seq"]),
    ("tokens", "tokens", ["seq2seq"]),
    ("features", "tokens", ["one_to_many"]),
    ("image", "tokens", ["seq2seq", "one_to_many"]),
])
def test_supported_topologies(inputs, outputs, valid):
    assert supported_topologies(inputs, outputs) == valid
    for name in set(topologies.BUILDERS) - set(valid):
        with pytest.raises(IncompatibleTopology, match=f"cannot use topology={name}.*valid: {', '.join(valid)}"):
            check_combination(name, "x", inputs, outputs)


@pytest.fixture
def cudnn_checks(monkeypatch):
    """Pretends a GPU is present and, instead of running cuDNN, records for every GRU and LSTM call whether
    cuDNN would take it. Keras calls its cuDNN kernel only for default activations, no recurrent dropout and no
    unrolling, and that kernel fails on a mask that is not right-padded or leaves a sequence no step at all."""
    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")  # the module, not the function it exports
    checks = []

    def cudnn(mask):
        if tf.executing_eagerly():  # not while Keras traces a layer to learn its output shape
            checks.append(mask is None or bool(rnn._is_sequence_right_padded(mask)
                                               and not rnn._has_fully_masked_sequence(mask)))
        raise NotImplementedError  # Keras then runs its own loop, as it does without a GPU

    monkeypatch.setattr(rnn, "_is_gpu_available", lambda: True)
    monkeypatch.setattr(rnn, "_cudnn_gru", lambda *args: cudnn(args[5]))
    monkeypatch.setattr(rnn, "_cudnn_lstm", lambda *args: cudnn(args[6]))
    return checks


# bp unrolls its one to eleven steps (faster on a CPU), which rules cuDNN out; every other task's defaults qualify
@pytest.mark.parametrize("task", [name for name in tasks.names() if name != "bp"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_default_configs_take_the_cudnn_kernels_on_a_gpu(task, cell, make_config, cudnn_checks):
    overrides = {"shakespeare": ["task.text_file=tinyshakespeare_excerpt.txt"],
                 "text": list(tasks.module("text").Task.smoke_test)}.get(task, [])  # the files it reads
    cfg = make_config(f"task={task}", f"cell={cell}", *overrides)
    spec, splits = tasks.create(cfg).load(cfg.trainer.batch_size)
    model = topologies.build(cfg.topology_name, spec, cell, OmegaConf.to_object(cfg.model))
    model(next(iter(decoding.model_data(cfg.topology_name, splits.train, spec)))[0], training=True)
    assert cudnn_checks and all(cudnn_checks)
