"""zoo.bench: throughput against the same model in PyTorch, and the quality table over task sweeps."""
import json
import os

import pytest

from zoo import bench


def test_throughput_times_each_side_in_its_own_process_per_cell_and_shape(monkeypatch, tmp_path, capsys):
    pytest.importorskip("torch", reason='PyTorch is the optional extra ".[bench]"')
    monkeypatch.setattr(bench, "SHAPES", [{"batch": 8, "length": 12, "embedding": 8, "units": 4}])
    processes, in_own_process = [], bench.pass_in_own_process
    monkeypatch.setattr(bench, "pass_in_own_process", lambda *args: processes.append(args) or in_own_process(*args))
    out = tmp_path / "throughput.json"
    assert bench.main(["throughput", "--cells", "gru", "--sides", "zoo,zoo.xla,torch", "--batches", "2",
                       "--repeats", "2", "--out", str(out), "trainer.learning_rate=0.01"]) == 0
    result = json.loads(out.read_text())
    assert result["overrides"] == ["trainer.learning_rate=0.01"]
    [row] = result["rows"]
    assert (row["cell"], row["units"]) == ("gru", 4) and row["failed"] == {}
    assert len(row["repeats"]["zoo"]) == len(row["repeats"]["torch"]) == 2
    assert row["zoo"] > 0 and row["torch"] > 0 and row["zoo/torch"] == round(row["zoo"] / row["torch"], 2)
    assert row["zoo.xla/torch"] == round(row["zoo.xla"] / row["torch"], 2) and "zoo/zoo.xla" not in row
    assert [side for side, *_ in processes] == ["zoo", "zoo.xla", "torch"] * 2  # alternating, one pass each


def test_the_xla_side_is_the_zoo_compiled_with_xla(monkeypatch):
    compiled_with = []
    monkeypatch.setattr(bench, "zoo_trainer", lambda cell, shape, x, y, cfg: compiled_with.append(
        cfg.trainer.jit_compile) or (lambda: None))
    for side in ("zoo", "zoo.xla"):
        bench.timed_pass(side, "gru", {"batch": 4, "length": 5, "embedding": 8, "units": 6}, 1, [])
    assert compiled_with == [False, True]


def test_the_torch_side_flushes_denormals_and_uses_the_zoos_thread_count(make_config):
    torch = pytest.importorskip("torch", reason='PyTorch is the optional extra ".[bench]"')
    shape = {"batch": 4, "length": 5, "embedding": 8, "units": 6}
    x, y = bench.random_data(shape, 2)
    try:
        bench.torch_trainer("gru", shape, x, y, make_config())
        assert torch.tensor([1e-40]).mul(1.0).item() == 0.0  # a float32 denormal, flushed to zero
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        torch.set_flush_denormal(False)


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
