"""Looking inside a trained model: its first recurrent layer stepped by hand (gate activations and state norms
per step, from the registered cell's gates) and a decoder's attention weights."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from zoo.cells import get
from zoo.errors import ZooError
from zoo.task import Spec


def first_recurrent_layer(model: keras.Model):
    """The recurrent layer that reads the model's input sequence (its forward direction when bidirectional) and
    the layer as the model calls it; (None, None) for a model that does not read a sequence first."""
    for layer in model.layers:
        if isinstance(layer, layers.Bidirectional):
            return layer.forward_layer, layer
        if isinstance(layer, layers.RNN):
            return layer, layer
    return None, None


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


def gate_trace(model: keras.Model, inputs, cell: str) -> list[dict]:
    """Per input step of one example, for the model's first recurrent layer (forward direction), a layer of the
    registered `cell`: the mean activation of each of its gates (none for SimpleRNN) and the norm of each state
    (`state_norm` for the hidden state, `cell_norm` for the LSTM's cell state). The states advance by the
    trained layer's own cell; the gates come from the cell's weights, and the hidden state they give must equal
    the layer's at every step."""
    rnn, _ = first_recurrent_layer(model)
    if rnn is None:
        return []
    registered = get(cell)
    trace = []
    for x, states, output, after in first_layer_steps(model, inputs):
        step = {}
        if registered.gates is not None:
            activations, expected = registered.gates(rnn.cell, x, states)
            step["gates"] = {name: float(ops.mean(value)) for name, value in activations.items()}
            if not np.allclose(expected, output, atol=1e-4):
                raise ZooError(f"the gates computed from {rnn.name}'s weights do not give its cell's state")
        step["state_norm"] = float(ops.norm(output))
        for name, state in zip(registered.state_names[1:], after[1:]):
            step[f"{name}_norm"] = float(ops.norm(state))
        trace.append(step)
    return trace


def attention_weights(model: keras.Model, source, output_ids: list[int], spec: Spec) -> np.ndarray | None:
    """How much each output step attended to each source step (rows sum to 1), for one example whose output
    `output_ids` was decoded: the decoder reads them after the start token, and the model's own attention
    layer gives its scores. None for a model without attention."""
    if "attention" not in [layer.name for layer in model.layers]:
        return None
    attention = model.get_layer("attention")
    decoder_in = np.array([[spec.decoder_start, *output_ids]], dtype="int32")
    query, value = keras.Model(model.inputs, attention.input)([source, decoder_in])
    source_ids = keras.tree.flatten(source)[0]
    _, scores = attention([query, value], mask=[None, ops.not_equal(source_ids, 0)], return_attention_scores=True)
    return np.asarray(scores)[0]
