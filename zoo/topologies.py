"""The five RNN topologies. Each builder takes a task's `Spec`, a cell name and the model config
and returns a `keras.Model` that maps the task's inputs to logits."""
from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from scipy.special import log_softmax, softmax

from zoo.cells import recurrent_layer, state_count
from zoo.config import NO_MEMORY, Attention
from zoo.errors import ZooError
from zoo.task import Spec

def rnn_stack(x, cell, model, return_sequences, initial_state=None, return_state=False, name="rnn"):
    """`model.layers` recurrent layers, optionally bidirectional; the first may start from `initial_state`.
    `cell=none` is the no-memory baseline: the same Dense layers at every step, nothing carried between steps
    (always a sequence out: many_to_one pools it)."""
    if cell == NO_MEMORY:
        for i in range(model.layers):
            x = layers.Dense(model.units, activation="tanh", name=f"{name}_{i}")(layers.Dropout(model.dropout)(x))
        return x
    if model.unroll and x.shape[1] is None:
        raise ZooError("model.unroll=true needs sequences of one fixed length, and this model reads sequences "
                       "of varying length; unroll suits bp's features")
    states = None
    for i in range(model.layers):
        last = i == model.layers - 1
        rnn = recurrent_layer(
            cell,
            model.units,
            dropout=model.dropout,
            unroll=model.unroll,
            return_sequences=return_sequences or not last,
            return_state=return_state and last,
            name=f"{name}_{i}",
        )
        if model.bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"{name}_{i}_bi")
        out = rnn(x, initial_state=initial_state if i == 0 else None)
        if return_state and last:
            x, states = out[0], out[1:]
            if model.bidirectional:  # forward and backward states, joined per state tensor
                half = len(states) // 2
                states = [layers.Concatenate()([f, b]) for f, b in zip(states[:half], states[half:])]
        else:
            x = out
    return (x, list(states)) if return_state else x


def sequence_input(spec: Spec, cell: str, model, name="inputs"):
    """An input for the task's sequence: token ids embedded with a padding mask (joined by each token's
    character encoding when the task gives characters), features one per step, a series as it is, or an
    image's pixel columns from left to right."""
    if spec.inputs == "features":
        inputs = keras.Input(shape=(spec.input_size,), name=name)
        return inputs, layers.Reshape((spec.input_size, 1))(inputs)
    if spec.inputs == "series":
        inputs = keras.Input(shape=(None, spec.input_size), name=name)
        return inputs, inputs
    if spec.inputs == "video":  # frames x height x width x channels: each frame through one CNN
        clips = keras.Input(shape=(None, *spec.image_shape), name=name)
        return clips, layers.TimeDistributed(image_encoder(model.units, name="frame_encoder"), name="frames")(clips)
    if spec.inputs == "image":
        image = keras.Input(shape=spec.image_shape, name=name)
        height, width, channels = spec.image_shape
        return image, layers.Reshape((width, height * channels))(layers.Permute((2, 1, 3))(image))
    tokens = keras.Input(shape=(None,), dtype="int32", name=name)
    ids = tokens
    if model.word_dropout:
        if spec.unknown_id is None:
            raise ZooError("model.word_dropout needs a task whose words have an unknown-word id (pos, imdb)")
        ids = WordDropout(model.word_dropout, spec.unknown_id)(tokens)
    x = layers.Embedding(spec.input_size, model.embedding_dim, mask_zero=True)(ids)
    if model.bigram_buckets:  # pairs of the words as written: word dropout leaves them alone, pair dropout does not
        pair_ids = BigramHash(model.bigram_buckets)(tokens)
        if model.bigram_dropout:
            pair_ids = WordDropout(model.bigram_dropout, BigramHash.UNKNOWN_PAIR, name="bigram_dropout")(pair_ids)
        pairs = layers.Embedding(model.bigram_buckets, model.embedding_dim, mask_zero=True, name="bigram_embedding")
        x = layers.Add(name="words_and_bigrams")([x, pairs(pair_ids)])
    if spec.char_size is None:
        return tokens, x
    chars = keras.Input(shape=(None, None), dtype="int32", name=f"{name}_chars")
    char_cell = "gru" if cell == NO_MEMORY else cell  # no memory across words; a word's spelling is still read
    x = layers.Concatenate()([x, CharacterEncoder(char_cell, spec.char_size, model.char_units)(chars)])
    return [tokens, chars], x


@keras.saving.register_keras_serializable(package="zoo")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits against integer labels smoothed toward uniform (Szegedy et al. 2016): the
    right class gets 1 - smoothing, and smoothing is spread over all classes. Masked steps count for nothing,
    as with Keras's own losses."""

    def __init__(self, smoothing: float, name: str = "smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(y_pred, axis=-1)
        right = ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(y_true, "int32"), -1), axis=-1)[..., 0]
        return -(1 - self.smoothing) * right - self.smoothing * ops.mean(log_probs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="zoo")
class WordDropout(layers.Layer):
    """In training, each word (or word pair) becomes the unknown one with probability `rate` (padding stays
    padding), so the model learns to tag or read words it has not seen from their context and spelling."""

    def __init__(self, rate: float, unknown_id: int, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.unknown_id = rate, unknown_id
        self.seed = keras.random.SeedGenerator()

    def call(self, ids, training=None):
        if not training:
            return ids
        dropped = (keras.random.uniform(ops.shape(ids), seed=self.seed) < self.rate) & (ids != 0)
        return ops.where(dropped, ops.cast(self.unknown_id, ids.dtype), ids)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "unknown_id": self.unknown_id}


@keras.saving.register_keras_serializable(package="zoo")
class BigramHash(layers.Layer):
    """Each step's word id and the one before it (padding before the first) hashed into one of ids 2 to
    `buckets` - 1, as fastText hashes word n-grams (Joulin et al. 2017): the pair "not good" gets an embedding of
    its own, with no vocabulary of pairs to keep. Padding stays 0, id 1 is kept for the unknown pair (what
    `model.bigram_dropout` turns a pair into), and a step's id depends on no later step."""

    MULTIPLIER = 116049371  # fastText's; keeps the pairs of frequent (small) ids apart
    UNKNOWN_PAIR = 1

    def __init__(self, buckets: int, first_id: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.first_id = buckets, first_id

    def call(self, ids):
        ids = ops.cast(ids, "int64")
        previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]])
        pairs = self.first_id + ops.mod(previous * self.MULTIPLIER + ids, self.buckets - self.first_id)
        return ops.where(ids == 0, ops.zeros_like(pairs), pairs)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="int64")

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "first_id": self.first_id}

    @classmethod
    def from_config(cls, config):
        return cls(**{"first_id": 1, **config})  # saved before id 1 was kept for the unknown pair: pairs from 1


@keras.saving.register_keras_serializable(package="zoo")
class CharacterEncoder(layers.Layer):
    """Encodes every token from its characters: ids (batch, tokens, chars) -> (batch, tokens, 2 * units), the
    final states of a small bidirectional RNN run over each token's characters. Words the embedding has never
    seen still get a representation from their spelling (suffixes, capitals, digits)."""

    def __init__(self, cell: str, char_size: int, units: int, **kwargs):
        super().__init__(**kwargs)
        self.cell, self.char_size, self.units = cell, char_size, units
        self.embedding = layers.Embedding(char_size, units)
        self.rnn = layers.Bidirectional(recurrent_layer(cell, units))

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.rnn.build((None, None, self.units))

    def compute_mask(self, chars, mask=None):
        """The token mask (a token is padding when it has no characters): joined to the word embedding, whose
        mask is the same, it keeps padding out of the RNN, the loss and the metrics."""
        return ops.not_equal(chars[:, :, 0], 0)

    def call(self, chars):
        batch, tokens, length = ops.shape(chars)
        flat = ops.reshape(chars, (-1, length))  # one row per token
        present = ops.not_equal(flat, 0)
        # cuDNN fails on a sequence with no step at all: a padding token reads one step, then encodes to zeros
        mask = ops.concatenate([ops.ones_like(present[:, :1]), present[:, 1:]], axis=1)
        encoded = self.rnn(self.embedding(flat), mask=mask) * ops.cast(present[:, :1], self.compute_dtype)
        return ops.reshape(encoded, (batch, tokens, 2 * self.units))

    def get_config(self):
        return {**super().get_config(), "cell": self.cell, "char_size": self.char_size, "units": self.units}


def head(x, spec: Spec, model):
    return layers.Dense(spec.output_size, name="logits")(layers.Dropout(model.dropout)(x))


def one_to_one(spec: Spec, cell: str, model) -> keras.Model:
    """The feature vector is one time step; the RNN's single output gives the class."""
    inputs = keras.Input(shape=(spec.input_size,), name="inputs")
    x = layers.Reshape((1, spec.input_size))(inputs)
    x = rnn_stack(x, cell, model, return_sequences=False)
    return keras.Model(inputs, head(x, spec, model), name="one_to_one")


@keras.saving.register_keras_serializable(package="zoo")
class StepPooling(layers.Layer):
    """The hidden states of every real step (batch, steps, units) as one vector (batch, units): the last real
    step's, each unit's max or mean, or a weighted sum whose weights are a softmax of learned scores (Yang et al.
    2016); the mask keeps padding out of all of them."""

    def __init__(self, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def build(self, input_shape):
        if self.kind == "attention":
            self.project = layers.Dense(input_shape[-1], activation="tanh")
            self.score = layers.Dense(1, use_bias=False)
            self.project.build(input_shape)
            self.score.build(input_shape)

    def weights_over_steps(self, x, mask):
        """The attention weights (batch, steps): zero at padding, summing to 1 over the real steps."""
        scores = ops.squeeze(self.score(self.project(x)), -1)
        return ops.softmax(ops.where(mask, scores, -1e9), axis=-1)

    def call(self, x, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        real = ops.cast(mask, x.dtype)[..., None]
        if self.kind == "last":
            last = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
            return ops.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
        if self.kind == "max":
            return ops.max(ops.where(mask[..., None], x, -1e9), axis=1)
        if self.kind == "mean":
            return ops.sum(x * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0)
        return ops.sum(self.weights_over_steps(x, mask)[..., None] * x, axis=1)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


def many_to_one(spec: Spec, cell: str, model) -> keras.Model:
    """The sequence is read step by step; the last hidden state gives the class, or with `model.pooling` the
    max, mean or attention-weighted sum of the hidden states of all steps."""
    inputs, x = sequence_input(spec, cell, model)
    pooling = model.pooling.name
    pools = pooling != "last" or cell == NO_MEMORY
    x = rnn_stack(x, cell, model, return_sequences=pools)
    if pools:
        x = StepPooling(pooling, name="pooling")(x)
    return keras.Model(inputs, head(x, spec, model), name="many_to_one")


def synced(spec: Spec, cell: str, model) -> keras.Model:
    """One output per input step (tagging)."""
    inputs, x = sequence_input(spec, cell, model)
    x = rnn_stack(x, cell, model, return_sequences=True)
    return keras.Model(inputs, head(x, spec, model), name="synced")


def decoder(context_states, spec: Spec, cell: str, model):
    """A teacher-forced decoder: reads the target shifted right, starts from the context's states, and returns
    its hidden state at every step."""
    targets_in = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
    x = layers.Embedding(decoder_vocabulary(spec), model.embedding_dim, mask_zero=True,
                         name="decoder_embedding")(targets_in)
    x = rnn_stack(x, cell, dataclasses.replace(model, bidirectional=False, units=decoder_units(model)),
                  return_sequences=True, initial_state=context_states, name="decoder")
    return targets_in, x


def decoder_units(model) -> int:
    return model.units * (2 if model.bidirectional else 1)


def decoder_start(spec: Spec) -> int:
    """Generated tokens have their own start id; tags have none, so the decoder starts from one id past them."""
    return spec.start_id if spec.outputs == "tokens" else spec.output_size


def decoder_vocabulary(spec: Spec) -> int:
    return max(spec.output_size, decoder_start(spec) + 1)


ATTENTION = {Attention.luong: layers.Attention, Attention.bahdanau: layers.AdditiveAttention}


def seq2seq(spec: Spec, cell: str, model) -> keras.Model:
    """Encoder reads the source; its final state starts the decoder, which emits the target. With attention,
    every decoder step also looks at all encoder steps (as in Luong et al. 2015: the decoder's output is the
    query, and the attended context joins it before the output layer)."""
    source, x = sequence_input(spec, cell, model, name="encoder_inputs")
    encoded, states = rnn_stack(x, cell, model, return_sequences=True, return_state=True, name="encoder")
    targets_in, x = decoder(states, spec, cell, model)
    if model.attention != Attention.none:
        context = ATTENTION[model.attention](name="attention")([x, encoded])
        x = layers.Dense(decoder_units(model), activation="tanh", name="attentional")(
            layers.Concatenate()([x, context]))
    return keras.Model([source, targets_in], head(x, spec, model), name="seq2seq")


def image_encoder(units: int, name: str) -> keras.Sequential:
    """A small CNN: two conv + pool blocks, flattened (so where things are stays known) into one vector."""
    return keras.Sequential([
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2, padding="same"),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2, padding="same"),
        layers.Flatten(), layers.Dense(units, activation="relu"),
    ], name=name)


def one_to_many(spec: Spec, cell: str, model) -> keras.Model:
    """A vector (or an image's CNN encoding) sets the decoder's initial state; the decoder emits a sequence."""
    inputs = keras.Input(shape=spec.image_shape or (spec.input_size,), name="inputs")
    vector = image_encoder(decoder_units(model), name="image_encoder")(inputs) if spec.inputs == "image" else inputs
    states = [layers.Dense(decoder_units(model), activation="tanh", name=f"init_state_{i}")(vector)
              for i in range(state_count(cell))]
    targets_in, x = decoder(states, spec, cell, model)
    return keras.Model([inputs, targets_in], head(x, spec, model), name="one_to_many")


BUILDERS = {f.__name__: f for f in (one_to_one, many_to_one, synced, seq2seq, one_to_many)}
GENERATIVE = {"seq2seq", "one_to_many"}


def build(topology: str, spec: Spec, cell: str, model) -> keras.Model:
    if model.attention != Attention.none and topology != "seq2seq":
        raise ZooError(f"model.attention={model.attention.name} needs an encoder sequence to attend to, "
                       f"which only topology=seq2seq has (this run: topology={topology})")
    return BUILDERS[topology](spec, cell, model)


def model_data(topology: str, ds: tf.data.Dataset, spec: Spec) -> tf.data.Dataset:
    """A task's (input, target) batches as the topology's model reads them: generative ones by teacher forcing."""
    return teacher_forcing(ds, spec) if topology in GENERATIVE else ds


def teacher_forcing(ds: tf.data.Dataset, spec: Spec) -> tf.data.Dataset:
    """(context, target) -> ((context, decoder inputs), next tokens): the decoder reads the target shifted right
    by one, from a start token, and learns to emit the next token. Decoder inputs are 0 wherever the next token
    is padding, so their mask covers exactly the positions that the loss and metrics should count."""

    def shift(context, target):
        if spec.outputs == "tags":
            start = tf.fill([tf.shape(target)[0], 1], tf.cast(decoder_start(spec), target.dtype))
            target = tf.concat([start, target], axis=1)
        inputs, targets = target[:, :-1], target[:, 1:]
        return (context, tf.where(targets != 0, inputs, tf.zeros_like(inputs))), targets

    return ds.map(shift)


# Decoding calls the model on a longer prefix at every step. Keras's predict function relaxes its input shapes
# after the first few traces, but TensorFlow warns about those retraces.
logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())


def decode(model: keras.Model, context, spec: Spec, max_length: int | None = None, beam_size: int = 1,
           exclude: tuple[int, ...] = ()) -> list[list[int]]:
    """Generate output ids for every example of `context` by beam search (greedy when beam_size=1). Each step
    runs the model on the prefixes so far and never writes an id in `exclude`; a beam ends at the end token or
    after `max_length` tokens, and the finished beams are ranked by mean log-probability per token."""
    max_length = max_length or spec.output_length - 1  # output_length counts the start token
    end = spec.end_id if spec.outputs == "tokens" else -1  # tags never end early
    n, k = len(keras.tree.flatten(context)[0]), beam_size
    context = keras.tree.map_structure(lambda a: np.repeat(np.asarray(a), k, axis=0), context)
    tokens = np.full((n, k, 1), decoder_start(spec), dtype="int32")
    scores = np.zeros((n, k))
    scores[:, 1:] = -np.inf  # the beams start identical: grow only the first
    done = np.zeros((n, k), dtype=bool)
    rows = np.arange(n)[:, None]
    never = [0, *([spec.start_id] if spec.outputs == "tokens" else []), *exclude]  # padding, start marker, exclude
    for _ in range(max_length):
        logits = model.predict_on_batch([context, tokens.reshape(n * k, -1)])[:, -1].astype("float64")
        log_probs = log_softmax(logits, axis=-1)
        log_probs[:, never] = -np.inf
        log_probs = log_probs.reshape(n, k, -1)
        log_probs[done] = -np.inf
        log_probs[done, 0] = 0.0  # a finished beam only grows padding, at no cost
        total = (scores[:, :, None] + log_probs).reshape(n, -1)
        best = np.argsort(-total, axis=1, kind="stable")[:, :k]
        beam, token = np.divmod(best, log_probs.shape[-1])
        tokens = np.concatenate([tokens[rows, beam], token[:, :, None]], axis=2)
        scores, done = total[rows, best], done[rows, beam] | (token == end)
        if done.all():
            break
    lengths = np.maximum((tokens[:, :, 1:] != 0).sum(axis=2), 1)
    chosen = tokens[np.arange(n), np.argmax(scores / lengths, axis=1), 1:]
    return [row[: row.index(end)] if end in row else row for row in chosen.tolist()]


def probabilities(model: keras.Model, inputs) -> np.ndarray:
    """The softmax of a classifier's or tagger's logits: (batch, classes) or (batch, steps, classes)."""
    return softmax(model.predict_on_batch(inputs).astype("float64"), axis=-1)


STEP_OUTPUTS = {"tags", "next", "tokens"}  # output kinds with one id per step, where 0 marks padding


def predict(model: keras.Model, spec: Spec, topology: str, inputs, beam_size: int = 1,
            exclude: tuple[int, ...] = ()):
    """The model's answers for a batch of inputs: class ids or values (batch,), tag ids (batch, steps), or one
    list of generated token ids per example (never one in `exclude`)."""
    if spec.outputs == "value":
        return model.predict_on_batch(inputs)[:, 0]
    if topology not in GENERATIVE:
        return np.argmax(probabilities(model, inputs), axis=-1)
    if spec.outputs == "tags":  # exactly one tag per input step
        steps = np.shape(keras.tree.flatten(inputs)[0])[1]
        return np.array(decode(model, inputs, spec, steps, beam_size, exclude))
    return decode(model, inputs, spec, beam_size=beam_size, exclude=exclude)


def step_predictions(model: keras.Model, spec: Spec, topology: str, ds: tf.data.Dataset) -> list[tuple]:
    """(inputs, gold ids, predicted ids) for every batch of `ds`, one id per step (0 = padding in the gold ids):
    the tags or next tokens that `predict` gives, or, for generated sequences, the next token the decoder gives
    after the gold ones (teacher forcing; the decoded sequences are the task's to score, e.g. by BLEU)."""
    if spec.outputs == "tokens":
        return [(x, y.numpy(), np.argmax(model.predict_on_batch(x), axis=-1)) for x, y in model_data(topology, ds, spec)]
    return [(x, y.numpy(), predict(model, spec, topology, x)) for x, y in ds]


def real_steps(steps: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """The gold and predicted ids of `step_predictions` at real steps only, every padding position left out."""
    gold = np.concatenate([g[g != 0] for _, g, _ in steps])
    predicted = np.concatenate([p[g != 0] for _, g, p in steps])
    return gold, predicted


def step_accuracy(steps: list[tuple]) -> float:
    """The fraction of real (non-padding) steps whose predicted id is the gold one."""
    gold, predicted = real_steps(steps)
    return float(np.mean(gold == predicted))


def first_recurrent_layer(model: keras.Model):
    """The recurrent layer that reads the model's input sequence (its forward direction when bidirectional) and
    the layer as the model calls it; (None, None) for a model that does not read a sequence first."""
    for layer in model.layers:
        if isinstance(layer, layers.Bidirectional):
            return layer.forward_layer, layer
        if isinstance(layer, layers.RNN):
            return layer, layer
    return None, None


def gates(cell, x, states) -> tuple[dict, np.ndarray]:
    """The gate activations of one step of a trained LSTM or GRU cell, from its own weights and activation
    functions, and the new hidden state those gates give (which `gate_trace` checks against the cell's)."""
    h = states[0]
    if isinstance(cell, layers.LSTMCell):
        z = ops.matmul(x, cell.kernel) + ops.matmul(h, cell.recurrent_kernel) + cell.bias
        i, f, g, o = ops.split(z, 4, axis=-1)
        i, f, o = (cell.recurrent_activation(v) for v in (i, f, o))
        c = f * states[1] + i * cell.activation(g)
        return {"input": i, "forget": f, "output": o}, o * cell.activation(c)
    input_bias, recurrent_bias = (cell.bias[0], cell.bias[1]) if cell.reset_after else (cell.bias, 0.0)
    x_z, x_r, x_h = ops.split(ops.matmul(x, cell.kernel) + input_bias, 3, axis=-1)
    kernel_zr, kernel_h = cell.recurrent_kernel[:, :2 * cell.units], cell.recurrent_kernel[:, 2 * cell.units:]
    bias_zr, bias_h = (recurrent_bias[:2 * cell.units], recurrent_bias[2 * cell.units:]) if cell.reset_after \
        else (0.0, 0.0)
    h_z, h_r = ops.split(ops.matmul(h, kernel_zr) + bias_zr, 2, axis=-1)
    update, reset = cell.recurrent_activation(x_z + h_z), cell.recurrent_activation(x_r + h_r)
    recurrent = reset * (ops.matmul(h, kernel_h) + bias_h) if cell.reset_after else ops.matmul(reset * h, kernel_h)
    return {"update": update, "reset": reset}, update * h + (1 - update) * cell.activation(x_h + recurrent)


def first_layer_steps(model: keras.Model, inputs):
    """The model's first recurrent layer (forward direction) stepped by hand with its own cell from zero states,
    over the sequence that layer reads from `inputs`: yields (step input, states before, output, states after)
    for every step, each a tensor of its own (so a gradient can be taken against any one of them)."""
    rnn, called = first_recurrent_layer(model)
    sources = [i for i in model.inputs if i.name != "decoder_inputs"]
    sequence = keras.Model(sources, called.input)(keras.tree.flatten(inputs))
    states = [ops.zeros((sequence.shape[0], size)) for size in keras.tree.flatten(rnn.cell.state_size)]
    for t in range(sequence.shape[1]):
        output, after = rnn.cell(sequence[:, t], states)
        after = keras.tree.flatten(after)
        yield sequence[:, t], states, output, after
        states = after


def gate_trace(model: keras.Model, inputs) -> list[dict]:
    """Per input step of one example, for the model's first recurrent layer (forward direction): the mean
    activation of each gate (LSTM forget/input/output, GRU update/reset; none for SimpleRNN) and the norm of the
    hidden state (and of the LSTM's cell state). The states advance by the trained layer's own cell; the gates
    come from the cell's weights, and each step's hidden state from them must equal the cell's."""
    rnn, _ = first_recurrent_layer(model)
    if rnn is None:
        return []
    cell = rnn.cell
    trace = []
    for x, states, output, after in first_layer_steps(model, inputs):
        step = {}
        if not isinstance(cell, layers.SimpleRNNCell):
            activations, expected = gates(cell, x, states)
            step["gates"] = {name: float(ops.mean(value)) for name, value in activations.items()}
            if not np.allclose(expected, output, atol=1e-4):
                raise ZooError(f"the gates computed from {rnn.name}'s weights do not give its cell's state")
        step["state_norm"] = float(ops.norm(output))
        if isinstance(cell, layers.LSTMCell):
            step["cell_norm"] = float(ops.norm(after[1]))
        trace.append(step)
    return trace


def attention_weights(model: keras.Model, source, output_ids: list[int], spec: Spec) -> np.ndarray | None:
    """How much each output step attended to each source step (rows sum to 1), for one example whose output
    `output_ids` was decoded: the decoder reads them after the start token, and the model's own attention
    layer gives its scores. None for a model without attention."""
    if "attention" not in [layer.name for layer in model.layers]:
        return None
    attention = model.get_layer("attention")
    decoder_in = np.array([[decoder_start(spec), *output_ids]], dtype="int32")
    query, value = keras.Model(model.inputs, attention.input)([source, decoder_in])
    source_ids = keras.tree.flatten(source)[0]
    _, scores = attention([query, value], mask=[None, ops.not_equal(source_ids, 0)], return_attention_scores=True)
    return np.asarray(scores)[0]
