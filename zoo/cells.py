"""The cell registry: config name -> Keras recurrent layer."""
import keras

from zoo.errors import ZooError

CELLS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


def recurrent_layer(cell: str, units: int, **kwargs) -> keras.layers.RNN:
    if cell not in CELLS:
        raise ZooError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    return CELLS[cell](units, **kwargs)


def state_count(cell: str) -> int:
    """LSTM carries two state tensors (h, c); SimpleRNN and GRU carry one."""
    return 2 if cell == "lstm" else 1
