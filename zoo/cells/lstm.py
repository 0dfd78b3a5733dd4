"""LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000): input, forget and output
gates around a cell state c that the forget gate keeps or clears."""
from zoo.cells import Cell, register
from zoo.lazy import lazy_import

keras = lazy_import("keras")


def gates(cell, x, states):
    """The gates of one step of a trained `keras.layers.LSTMCell`, from its own weights, and the h they give."""
    ops = keras.ops
    h, c = states
    z = ops.matmul(x, cell.kernel) + ops.matmul(h, cell.recurrent_kernel) + cell.bias
    i, f, g, o = ops.split(z, 4, axis=-1)
    i, f, o = (cell.recurrent_activation(v) for v in (i, f, o))
    c = f * c + i * cell.activation(g)
    return {"input": i, "forget": f, "output": o}, o * cell.activation(c)


def torch_twin(inputs: int, units: int):
    from torch import nn

    return nn.LSTM(inputs, units, batch_first=True)


register(Cell(
    name="lstm",
    layer=lambda units, **kwargs: keras.layers.LSTM(units, **kwargs),
    formula="4·(units·(inputs + units) + units)",
    count=lambda i, u: 4 * (u * (i + u) + u),
    gates=gates,
    state_names=("state", "cell"),
    torch=torch_twin,
))
