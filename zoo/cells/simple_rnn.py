"""SimpleRNN (Elman 1990): h' = tanh(W x + U h + b). No gates: its step view is the state's norm alone."""
from zoo.cells import Cell, register
from zoo.lazy import lazy_import

keras = lazy_import("keras")


def torch_twin(inputs: int, units: int):
    from torch import nn

    return nn.RNN(inputs, units, batch_first=True)


register(Cell(
    name="simple_rnn",
    layer=lambda units, **kwargs: keras.layers.SimpleRNN(units, **kwargs),
    formula="units·(inputs + units) + units",
    count=lambda i, u: u * (i + u) + u,
    torch=torch_twin,
))
