"""A cell defined here only, the minimal gated unit (Zhou et al. 2016: one forget gate), registered as a user
would register theirs: it trains in every valid topology of a token task and a value task, its gates come out of
`zoo.predict --steps --json` as a hand computation gives them, and `zoo.diagnose params` counts its parameters
as Keras does. Unregistered, the same settings are refused."""
import json

import keras
import numpy as np
import pytest
from conftest import TASKS
from keras import ops

from zoo import cells, diagnose, predict, runs
from zoo.errors import ZooError
from zoo.rules import checked, supported_topologies
from zoo.runner import run

SHORT = ["trainer.epochs=1", "trainer.limit_batches=2", "task.limit=64"]


@keras.saving.register_keras_serializable(package="test_new_cell")
class MinimalGatedCell(keras.layers.Layer):
    """f = σ(W_f x + U_f h + b_f); h' = (1 - f) h + f tanh(W_h x + U_h (f h) + b_h)."""

    def __init__(self, units: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.dropout = units, dropout
        self.state_size = self.output_size = units
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2 * self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, 2 * self.units), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(2 * self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=False):
        if training and self.dropout:
            inputs = keras.random.dropout(inputs, self.dropout, seed=self.seed_generator)
        _, h = forget_gate_and_state(self, inputs, states)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}


def forget_gate_and_state(cell, x, states):
    h, units = states[0], cell.units
    x_f, x_h = ops.split(ops.matmul(x, cell.kernel) + cell.bias, 2, axis=-1)
    forget = ops.sigmoid(x_f + ops.matmul(h, cell.recurrent_kernel[:, :units]))
    candidate = ops.tanh(x_h + ops.matmul(forget * h, cell.recurrent_kernel[:, units:]))
    return forget, (1 - forget) * h + forget * candidate


def gates(cell, x, states):
    forget, h = forget_gate_and_state(cell, x, states)
    return {"forget": forget}, h


MGU = cells.Cell(
    name="mgu",
    layer=lambda units, dropout=0.0, **kwargs: keras.layers.RNN(MinimalGatedCell(units, dropout), **kwargs),
    formula="2·(units·(inputs + units) + units)",
    count=lambda i, u: 2 * (u * (i + u) + u),
    gates=gates,
)


@pytest.fixture
def minimal_gated():
    cells.register(MGU)
    yield MGU
    cells.unregister(MGU.name)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("task,topology", [*(("pos", t) for t in supported_topologies("tokens", "tags")),
                                           *(("memory", t) for t in supported_topologies("series", "value")),
                                           ("captioning", "one_to_many")])  # the decoder's state count, from the layer
def test_a_registered_cell_trains_in_every_valid_topology(minimal_gated, make_config, tmp_path, task, topology):
    cfg = make_config(f"task={task}", f"topology={topology}", "cell.name=mgu", *TASKS[task], *SHORT)
    metrics = run(cfg, tmp_path)
    assert metrics["status"] == "ok" and (metrics["cell"], metrics["topology"]) == ("mgu", topology)
    assert np.isfinite(metrics["test"]["loss"])


def test_an_unregistered_cell_is_refused_in_one_line(make_config):
    with pytest.raises(ZooError, match="unknown cell 'mgu'; registered: .*gru"):
        checked(make_config("task=pos", "cell.name=mgu"))


def test_its_gates_in_predict_steps_are_the_hand_computed_ones(minimal_gated, make_config, tmp_path, capsys):
    cfg = make_config("task=pos", "cell.name=mgu", "task.chars=false", "model.bidirectional=false", *SHORT)
    run(cfg, tmp_path)
    capsys.readouterr()
    predict.main([str(tmp_path), "--input", "The old man the boats .", "--steps", "--json"])
    [answer] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    first = answer["output"]["steps"][0]

    loaded = runs.load(tmp_path)
    embedding = next(layer for layer in loaded.model.layers if isinstance(layer, keras.layers.Embedding))
    x = embedding.embeddings.numpy()[loaded.task.word_ids(["The"])[0]]  # the first step's input; h0 = 0
    layer = loaded.model.get_layer("rnn_0").cell
    kernel, _, bias = [w.numpy() for w in layer.weights]
    units = layer.units
    forget = sigmoid(x @ kernel[:, :units] + bias[:units])
    assert first["gates"] == pytest.approx({"forget": forget.mean()}, abs=1e-5)
    assert first["state_norm"] == pytest.approx(np.linalg.norm(forget * np.tanh(x @ kernel[:, units:] + bias[units:])),
                                                abs=1e-5)
    assert len(answer["output"]["steps"]) == 6 and len(answer["output"]["tags"]) == 6


def test_diagnose_params_counts_it_as_keras_does(minimal_gated, capsys):
    assert diagnose.main(["params", "--inputs", "5", "--units", "7"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mgu ")]
    assert row.split()[-2:] == [str(2 * (7 * (5 + 7) + 7))] * 2 and "MISMATCH" not in row
