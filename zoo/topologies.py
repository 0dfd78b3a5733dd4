"""The five RNN topologies. Each builder takes a task's `Spec`, a cell name and the model config
and returns a `keras.Model` that maps the task's inputs to logits."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from zoo.cells import recurrent_layer, state_count
from zoo.errors import IncompatibleTopology
from zoo.task import Spec

# topology -> (input kinds, output kinds) it can model
SUPPORTED = {
    "one_to_one": ({"features"}, {"class"}),
    "many_to_one": ({"features", "tokens"}, {"class"}),
    "synced": ({"tokens"}, {"tags"}),
    "seq2seq": ({"tokens"}, {"tokens"}),
    "one_to_many": ({"features"}, {"tokens"}),
}


def supported_topologies(inputs: str, outputs: str) -> list[str]:
    return [name for name, (ins, outs) in SUPPORTED.items() if inputs in ins and outputs in outs]


def check(topology: str, task_name: str, inputs: str, outputs: str) -> None:
    valid = supported_topologies(inputs, outputs)
    if topology not in valid:
        raise IncompatibleTopology(
            f"task={task_name} cannot use topology={topology} ({inputs} in, {outputs} out); "
            f"valid: {', '.join(valid)}"
        )


def rnn_stack(x, cell, model, return_sequences, initial_state=None, return_state=False, name="rnn"):
    """`model.layers` recurrent layers, optionally bidirectional; the first may start from `initial_state`."""
    states = None
    for i in range(model.layers):
        last = i == model.layers - 1
        rnn = recurrent_layer(
            cell,
            model.units,
            dropout=model.dropout,
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


def sequence_input(spec: Spec, model, name="inputs"):
    """An input for the task's sequence: token ids embedded with a padding mask, or features one per step."""
    if spec.inputs == "tokens":
        inputs = keras.Input(shape=(None,), dtype="int32", name=name)
        return inputs, layers.Embedding(spec.input_size, model.embedding_dim, mask_zero=True)(inputs)
    inputs = keras.Input(shape=(spec.input_size,), name=name)
    return inputs, layers.Reshape((spec.input_size, 1))(inputs)


def head(x, spec: Spec, model):
    return layers.Dense(spec.output_size, name="logits")(layers.Dropout(model.dropout)(x))


def one_to_one(spec: Spec, cell: str, model) -> keras.Model:
    """The feature vector is one time step; the RNN's single output gives the class."""
    inputs = keras.Input(shape=(spec.input_size,), name="inputs")
    x = layers.Reshape((1, spec.input_size))(inputs)
    x = rnn_stack(x, cell, model, return_sequences=False)
    return keras.Model(inputs, head(x, spec, model), name="one_to_one")


def many_to_one(spec: Spec, cell: str, model) -> keras.Model:
    """The sequence is read step by step; the last hidden state gives the class."""
    inputs, x = sequence_input(spec, model)
    x = rnn_stack(x, cell, model, return_sequences=False)
    return keras.Model(inputs, head(x, spec, model), name="many_to_one")


def synced(spec: Spec, cell: str, model) -> keras.Model:
    """One output per input step (tagging)."""
    inputs, x = sequence_input(spec, model)
    x = rnn_stack(x, cell, model, return_sequences=True)
    return keras.Model(inputs, head(x, spec, model), name="synced")


def decoder(context_states, spec: Spec, cell: str, model):
    """A teacher-forced decoder: reads the target shifted right, starts from the context's states."""
    targets_in = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
    x = layers.Embedding(spec.output_size, model.embedding_dim, mask_zero=True, name="decoder_embedding")(targets_in)
    x = rnn_stack(x, cell, dataclasses.replace(model, bidirectional=False, units=decoder_units(model)),
                  return_sequences=True, initial_state=context_states, name="decoder")
    return targets_in, head(x, spec, model)


def decoder_units(model) -> int:
    return model.units * (2 if model.bidirectional else 1)


def seq2seq(spec: Spec, cell: str, model) -> keras.Model:
    """Encoder reads the source; its final state starts the decoder, which emits the target."""
    source, x = sequence_input(spec, model, name="encoder_inputs")
    _, states = rnn_stack(x, cell, model, return_sequences=False, return_state=True, name="encoder")
    targets_in, logits = decoder(states, spec, cell, model)
    return keras.Model([source, targets_in], logits, name="seq2seq")


def one_to_many(spec: Spec, cell: str, model) -> keras.Model:
    """A vector sets the decoder's initial state; the decoder emits a sequence."""
    vector = keras.Input(shape=(spec.input_size,), name="inputs")
    states = [layers.Dense(decoder_units(model), activation="tanh", name=f"init_state_{i}")(vector)
              for i in range(state_count(cell))]
    targets_in, logits = decoder(states, spec, cell, model)
    return keras.Model([vector, targets_in], logits, name="one_to_many")


BUILDERS = {f.__name__: f for f in (one_to_one, many_to_one, synced, seq2seq, one_to_many)}
GENERATIVE = {"seq2seq", "one_to_many"}


def teacher_forcing(ds: tf.data.Dataset) -> tf.data.Dataset:
    """(context, target) -> ((context, target without its last token), target without its first token)."""
    return ds.map(lambda context, target: ((context, target[:, :-1]), target[:, 1:]))


def greedy_decode(model: keras.Model, context, spec: Spec, max_length: int | None = None) -> list[list[int]]:
    """Generate token ids for each example of `context` until the end token or `max_length` tokens."""
    max_length = max_length or spec.output_length - 1  # output_length counts the start token
    n = len(context)
    tokens = np.full((n, 1), spec.start_id, dtype="int32")
    for _ in range(max_length):
        logits = model.predict_on_batch([context, tokens])
        next_ids = np.argmax(logits[:, -1], axis=-1).astype("int32")
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        if np.all((tokens == spec.end_id).any(axis=1)):
            break
    outputs = []
    for row in tokens[:, 1:].tolist():
        outputs.append(row[: row.index(spec.end_id)] if spec.end_id in row else row)
    return outputs
