"""The zoo's own Keras layers and loss: everything a saved `model.keras` names besides Keras's own, so that
importing this module (and the cells) is all that loading a run's model needs."""
from __future__ import annotations

import keras
from keras import layers, ops

from zoo.cells import recurrent_layer


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
        # both directions given: Bidirectional would serialize one layer twice to make the backward one, and inside
        # load_model's object-sharing scope that leaves an entry a later layer at the same address is mistaken for
        forward = recurrent_layer(cell, units)
        backward = recurrent_layer(cell, units, go_backwards=True, name=f"backward_{forward.name}")
        self.rnn = layers.Bidirectional(forward, backward_layer=backward)

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



@keras.saving.register_keras_serializable(package="zoo")
class ScaledAbsoluteError(keras.metrics.MeanMetricWrapper):
    """The mean absolute error divided by `scale`: MASE (Hyndman & Koehler 2006) when `scale` is the training
    part's mean absolute error of the seasonal naive forecast, in the model's units."""

    def __init__(self, scale: float, name: str = "mase", dtype=None):
        super().__init__(fn=scaled_absolute_error, name=name, dtype=dtype, scale=scale)
        self.scale = scale

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "scale": self.scale}


def scaled_absolute_error(y_true, y_pred, scale):
    return ops.mean(ops.abs(ops.cast(y_true, y_pred.dtype) - y_pred), axis=-1) / scale
