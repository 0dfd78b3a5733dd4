"""The five RNN topologies. Each builder takes a task's `Spec`, a cell name and the model config and returns a
`keras.Model` that maps the task's inputs to logits. Which combinations are valid is `zoo.rules`' to say,
before anything here runs."""
from __future__ import annotations

import dataclasses

import keras
from keras import layers

from zoo.cells import NO_MEMORY, recurrent_layer, state_count
from zoo.config import Attention
from zoo.errors import ZooError
from zoo.layers import BigramHash, CharacterEncoder, StepPooling, WordDropout
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






def head(x, spec: Spec, model):
    """The output layer: logits (or a value) per example or per step; for a value sequence, every step of it at
    once from one vector, or one value per step."""
    x = layers.Dropout(model.dropout)(x)
    if spec.outputs != "values":
        return layers.Dense(spec.output_size, name="logits")(x)
    if len(x.shape) == 2:
        return layers.Dense(spec.output_length, name="logits")(x)
    return layers.Reshape((-1,), name="values")(layers.Dense(1, name="logits")(x))


def one_to_one(spec: Spec, cell: str, model) -> keras.Model:
    """The feature vector is one time step; the RNN's single output gives the class."""
    inputs = keras.Input(shape=(spec.input_size,), name="inputs")
    x = layers.Reshape((1, spec.input_size))(inputs)
    x = rnn_stack(x, cell, model, return_sequences=False)
    return keras.Model(inputs, head(x, spec, model), name="one_to_one")




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
    """A teacher-forced decoder: reads the target shifted right (token ids, embedded; or values as they are),
    starts from the context's states, and returns its hidden state at every step."""
    if spec.outputs == "values":
        targets_in = x = keras.Input(shape=(None, 1), name="decoder_inputs")
    else:
        targets_in = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
        x = layers.Embedding(spec.decoder_vocabulary, model.embedding_dim, mask_zero=True,
                             name="decoder_embedding")(targets_in)
    x = rnn_stack(x, cell, dataclasses.replace(model, bidirectional=False, units=decoder_units(model)),
                  return_sequences=True, initial_state=context_states, name="decoder")
    return targets_in, x


def decoder_units(model) -> int:
    return model.units * (2 if model.bidirectional else 1)


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


def build(topology: str, spec: Spec, cell: str, model) -> keras.Model:
    return BUILDERS[topology](spec, cell, model)


