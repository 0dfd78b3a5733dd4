"""task=memory and the diagnostics: generated answers, baselines, parameter formulas and gradient norms."""
import dataclasses
import json

import keras
import numpy as np
import pytest
from conftest import TEST_DATA, model_config

from tasks import memory
from zoo import diagnose, topologies
from zoo.cells import CELLS
from zoo.runner import run


def test_adding_problem_answers_are_the_marked_sums():
    x, y = memory.adding_problem(200, 30, np.random.default_rng(0))
    assert x.shape == (200, 30, 2) and y.shape == (200, 1)
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :15].sum(axis=1) == 1)  # one mark in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)


def test_recall_answer_is_the_first_token():
    tokens, answers = memory.recall_problem(100, 25, 8, np.random.default_rng(0))
    assert tokens.shape == (100, 27) and np.all(tokens[:, -1] == memory.QUERY)
    np.testing.assert_array_equal(tokens[:, 0] - 2, answers)
    assert np.all(tokens[:, 1:-1] >= 2 + 8)  # distractors never look like an answer


def test_memoryless_baseline_is_the_variance_of_the_sum():
    task = memory.Task(memory.Config(train_examples=20000), TEST_DATA, seed=0)
    task.load(batch_size=64)
    assert task.extras()["baseline_mse"] == pytest.approx(1 / 6, abs=0.01)
    assert task.primary_metric == "mse" and task.primary_goal == "min"


@pytest.mark.parametrize("variant", ["adding", "recall"])
def test_short_sequences_are_learned(make_config, tmp_path, variant):
    metrics = run(make_config("task=memory", f"task.variant={variant}", "task.length=10", "task.train_examples=3000",
                              "model.units=32", "trainer.epochs=8", "trainer.learning_rate=0.01", "cell=gru"), tmp_path)
    if variant == "adding":
        assert metrics["test"]["mse"] < 0.5 * metrics["baseline_mse"]
    else:
        assert metrics["test"]["accuracy"] > 3 * metrics["baseline_accuracy"]


@pytest.mark.parametrize("inputs,units", [(4, 3), (1, 1), (128, 64)])
def test_parameter_formulas_match_keras(inputs, units):
    rows = diagnose.parameter_table(inputs, units)
    assert [r["cell"] for r in rows] == list(CELLS)
    assert all(r["formula_count"] == r["keras_count"] for r in rows)
    if (inputs, units) == (4, 3):
        assert [r["keras_count"] for r in rows] == [24, 96, 81]


def test_params_command_fails_on_a_wrong_formula(monkeypatch, capsys):
    assert diagnose.main(["params"]) == 0
    monkeypatch.setitem(CELLS, "gru", dataclasses.replace(CELLS["gru"], count=lambda i, u: 3 * (u * (i + u) + u)))
    assert diagnose.main(["params"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


@pytest.mark.parametrize("cell", CELLS)
def test_gradient_norms_have_one_finite_value_per_step(cell):
    task = memory.Task(memory.Config(length=12, train_examples=64), TEST_DATA, seed=0)
    spec, splits = task.load(batch_size=16)
    model = topologies.many_to_one(spec, cell, model_config(units=8))
    inputs, targets = next(iter(splits.test))
    norms = diagnose.hidden_gradient_norms(model, task.loss(), inputs, targets)
    assert len(norms) == 12 and np.all(np.isfinite(norms)) and norms[-1] > 0


def test_gradient_flow_command_writes_numbers_and_plot(tmp_path):
    overrides = ["task=memory", "task.length=8", "task.train_examples=64", "trainer.epochs=1", "trainer.verbose=0",
                 "model.units=8", f"paths.data_dir={TEST_DATA}"]
    assert diagnose.main(["gradient-flow", "--cells", "simple_rnn,gru", "--out", str(tmp_path), *overrides]) == 0
    result = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert set(result["cells"]) == {"simple_rnn", "gru"} and result["steps"] == 8
    assert all(len(c["trained"]) == len(c["untrained"]) == 8 for c in result["cells"].values())
    assert (tmp_path / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"
    assert keras.models.load_model(tmp_path / "gru" / "model.keras")


def test_long_dependency_table_and_plot_from_a_sweep(tmp_path):
    for job, (cell, length, mse) in enumerate([("simple_rnn", 50, 0.16), ("gru", 50, 0.001), ("gru", 600, 0.004),
                                               ("simple_rnn", 600, 0.17), ("lstm", 600, float("nan"))]):
        run_dir = tmp_path / str(job)
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "config.yaml").write_text(f"task:\n  length: {length}\n")
        status = "failed" if cell == "lstm" else "ok"
        (run_dir / "metrics.json").write_text(json.dumps({
            "task": "memory", "cell": cell, "status": status, "primary_metric": "mse", "test": {"mse": mse},
            "baseline_mse": 0.166}))
    assert diagnose.main(["long-dependency", str(tmp_path)]) == 0
    table = (tmp_path / "long_dependency.md").read_text()
    assert "| cell | T=50 | T=600 |" in table and "| gru | 0.001 | 0.004 |" in table
    assert "| simple_rnn | 0.16 | 0.17 |" in table and "| memoryless baseline | 0.166 | 0.166 |" in table
    assert "lstm" not in table  # failed runs have no number to plot
    assert (tmp_path / "long_dependency.png").read_bytes()[:4] == b"\x89PNG"
    assert diagnose.main(["long-dependency", str(tmp_path / "nowhere")]) == 1
