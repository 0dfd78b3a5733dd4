"""The cell registry: every recurrent cell the zoo trains is one `Cell`, registered by a module of this package.

A cell is everything the engine and its tools need to know of it, in one place: the Keras layer that runs it,
its gates (the step views of `zoo.predict --steps` and the demo, computed from the trained layer's own weights
and checked against the layer's own step), the textbook parameter count (`zoo.diagnose params`, checked
against Keras's) and, where PyTorch has one, its PyTorch twin (`zoo.bench throughput`). Adding a cell is a
module here that calls `register(Cell(...))` and a `conf/cell/<name>.yaml` with its name (docs/design.md).

Nothing here loads TensorFlow: the layers are made by functions called only when a model is built.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Optional

from zoo.errors import ZooError

NO_MEMORY = "none"  # cell=none: not a cell but its absence, a Dense layer per step (see zoo.topologies.rnn_stack)


@dataclass(frozen=True)
class Cell:
    name: str
    layer: Callable  # (units, dropout=..., return_sequences=..., ...) -> a Keras recurrent layer
    formula: str  # its parameter count in words, for inputs features and units units
    count: Callable[[int, int], int]  # the formula: (inputs, units) -> parameters
    gates: Optional[Callable] = None  # (the layer's cell, step input, states before) -> ({gate: activation}, new h)
    state_names: tuple[str, ...] = ("state",)  # a name per state tensor ("state": the hidden state h)
    torch: Optional[Callable] = None  # (inputs, units) -> the same cell as a torch.nn module (batch_first)


CELLS: dict[str, Cell] = {}


def register(cell: Cell) -> Cell:
    CELLS[cell.name] = cell
    return cell


def unregister(name: str) -> None:
    CELLS.pop(name, None)


def get(name: str) -> Cell:
    if name not in CELLS:
        raise ZooError(f"unknown cell {name!r}; registered: {', '.join(CELLS)} (and {NO_MEMORY}, no memory)")
    return CELLS[name]


def recurrent_layer(cell: str, units: int, **kwargs):
    return get(cell).layer(units, **kwargs)


def state_count(cell: str) -> int:
    """How many state tensors the cell carries from step to step (LSTM: h and c), read off its layer."""
    import keras

    return len(keras.tree.flatten(recurrent_layer(cell, 1).cell.state_size))


TEXTBOOK_ORDER = ("simple_rnn", "lstm", "gru")  # as the tutorials teach them; any other registered cell follows
for _name in sorted((m.name for m in pkgutil.iter_modules(__path__)),
                    key=lambda name: (TEXTBOOK_ORDER + (name,)).index(name)):
    importlib.import_module(f"{__name__}.{_name}")
