"""zoo.bench: throughput against the same model in PyTorch, and the quality table over task sweeps."""
import json

import pytest

from zoo import bench


def test_throughput_reports_both_sides_per_cell_and_shape(monkeypatch, tmp_path):
    pytest.importorskip("torch", reason='PyTorch is the optional extra ".[bench]"')
    monkeypatch.setattr(bench, "SHAPES", [{"batch": 8, "length": 12, "embedding": 8, "units": 4},
                                          {"batch": 8, "length": 12, "embedding": 8, "units": 6}])
    out = tmp_path / "throughput.json"
    assert bench.main(["throughput", "--cells", "gru,simple_rnn", "--batches", "2", "--repeats", "2",
                       "--out", str(out), "trainer.learning_rate=0.01"]) == 0
    result = json.loads(out.read_text())
    assert result["overrides"] == ["trainer.learning_rate=0.01"]
    assert [(r["cell"], r["units"]) for r in result["rows"]] == [("gru", 4), ("simple_rnn", 4), ("gru", 6),
                                                                 ("simple_rnn", 6)]
    for row in result["rows"]:
        assert len(row["repeats"]["zoo"]) == len(row["repeats"]["torch"]) == 2
        assert row["zoo"] > 0 and row["torch"] > 0 and row["ratio"] == round(row["zoo"] / row["torch"], 2)


def test_the_torch_model_matches_the_zoo_model_in_size(make_config):
    """Same architecture on both sides: equal parameter counts (Keras's GRU keeps two bias vectors, as torch's)."""
    pytest.importorskip("torch", reason='PyTorch is the optional extra ".[bench]"')
    shape = {"batch": 4, "length": 5, "embedding": 8, "units": 6}
    for cell in ("simple_rnn", "lstm", "gru"):
        zoo_model = bench.zoo_model(cell, shape, make_config())
        torch_model = bench.torch_model(cell, shape)
        keras_count = sum(int(w.numpy().size) for w in zoo_model.trainable_weights)
        torch_count = sum(p.numel() for p in torch_model.parameters())
        # torch's RNN and LSTM keep two bias vectors where Keras keeps one
        extra_bias = {"simple_rnn": 1, "lstm": 4, "gru": 0}[cell] * shape["units"]
        assert keras_count + extra_bias == torch_count, cell


def test_quality_runs_every_task_and_cell_and_tabulates_time_to_target(tmp_path):
    from conftest import TEST_DATA

    out = tmp_path / "quality"
    assert bench.main(["quality", "--tasks", "memory", "--cells", "gru,simple_rnn", "--out", str(out),
                       "debug=quick", "task.limit=64", f"paths.data_dir={TEST_DATA}"]) == 0
    rows = json.loads((out / "quality.json").read_text())
    assert [(r["task"], r["cell"], r["metric"]) for r in rows] == [("memory", "gru", "mse"),
                                                                   ("memory", "simple_rnn", "mse")]
    assert all(r["status"] == "ok" and r["train_s"] > 0 and r["target (val)"] == 0.01 for r in rows)
    assert all(r["other test metrics"].startswith("loss=") for r in rows)
    assert "s_to_target" in (out / "quality.md").read_text()
    assert (out / "memory" / "results.md").exists()  # each task is an ordinary sweep folder
