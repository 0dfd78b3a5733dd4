"""GRU (Cho et al. 2014): an update gate that mixes the old state with a candidate, and a reset gate that
decides how much of the old state the candidate reads. Keras's default `reset_after=True` applies the reset
after the recurrent matrix product, as cuDNN does, and keeps a second bias for it."""
from zoo.cells import Cell, register
from zoo.lazy import lazy_import

keras = lazy_import("keras")


def gates(cell, x, states):
    """The gates of one step of a trained `keras.layers.GRUCell`, from its own weights, and the h they give."""
    ops = keras.ops
    h = states[0]
    input_bias, recurrent_bias = (cell.bias[0], cell.bias[1]) if cell.reset_after else (cell.bias, 0.0)
    x_z, x_r, x_h = ops.split(ops.matmul(x, cell.kernel) + input_bias, 3, axis=-1)
    kernel_zr, kernel_h = cell.recurrent_kernel[:, :2 * cell.units], cell.recurrent_kernel[:, 2 * cell.units:]
    bias_zr, bias_h = (recurrent_bias[:2 * cell.units], recurrent_bias[2 * cell.units:]) if cell.reset_after \
        else (0.0, 0.0)
    h_z, h_r = ops.split(ops.matmul(h, kernel_zr) + bias_zr, 2, axis=-1)
    update, reset = cell.recurrent_activation(x_z + h_z), cell.recurrent_activation(x_r + h_r)
    recurrent = reset * (ops.matmul(h, kernel_h) + bias_h) if cell.reset_after else ops.matmul(reset * h, kernel_h)
    return {"update": update, "reset": reset}, update * h + (1 - update) * cell.activation(x_h + recurrent)


def torch_twin(inputs: int, units: int):
    from torch import nn

    return nn.GRU(inputs, units, batch_first=True)


register(Cell(
    name="gru",
    layer=lambda units, **kwargs: keras.layers.GRU(units, **kwargs),
    # the second bias vector is reset_after's, for the recurrent kernel
    formula="3·(units·(inputs + units) + units) + 3·units",
    count=lambda i, u: 3 * (u * (i + u) + u) + 3 * u,
    gates=gates,
    torch=torch_twin,
))
