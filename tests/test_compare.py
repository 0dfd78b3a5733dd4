"""The compare table over fabricated run folders."""
import json

import pytest

from zoo.compare import load_runs, main, seed_table, table


def fabricate(root, name, task, cell, accuracy=None, status="ok", **extra):
    folder = root / name
    folder.mkdir(parents=True)
    record = {"task": task, "cell": cell, "topology": "many_to_one", "status": status, "params": 1000,
              "model": {"units": 64, "layers": 1, "bidirectional": False}, "epochs_run": 2, "train_seconds": 9.5,
              "primary_metric": "accuracy", "primary_goal": "max", **extra}
    if accuracy is not None:
        record["test"] = {"accuracy": accuracy, "loss": 0.5}
    (folder / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def runs(tmp_path):
    fabricate(tmp_path, "a", "imdb", "simple_rnn", 0.70)
    fabricate(tmp_path, "b", "imdb", "gru", 0.88)
    fabricate(tmp_path, "c/deeper", "imdb", "lstm", status="failed", error="DataError: missing file")
    fabricate(tmp_path, "d", "bp", "lstm", 0.56, baseline_accuracy=0.565)
    return tmp_path


def test_grouped_by_task_best_first_failed_last(runs):
    frame = table(load_runs([runs]))
    assert list(zip(frame.task, frame.cell)) == [("bp", "lstm"), ("imdb", "gru"), ("imdb", "simple_rnn"),
                                                 ("imdb", "lstm")]
    assert frame.primary[1] == "accuracy=0.8800"
    assert frame.status[3] == "failed: DataError: missing file"
    assert "baseline=0.5650" in frame.test[0] and "loss=0.5" in frame.test[0]
    assert frame["size"][0] == "64x1"


@pytest.mark.parametrize("fmt,marker", [("md", "| task"), ("csv", "task,topology,cell"), ("json", '"task":')])
def test_formats_and_out_file(runs, tmp_path, fmt, marker):
    out = tmp_path / f"table.{fmt}"
    assert main([str(runs), "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text()
    assert marker in text and text.count("imdb") >= 3


def test_rich_table_prints_every_run(runs, capsys):
    assert main([str(runs)]) == 0
    printed = capsys.readouterr().out
    assert all(cell in printed for cell in ("simple_rnn", "gru", "lstm")) and "failed" in printed


def test_bad_paths_are_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such path: {tmp_path / 'nope'}"
    assert main([str(tmp_path)]) == 1


def test_unreadable_metrics_show_as_a_row(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "metrics.json").write_text("{not json")
    frame = table(load_runs([tmp_path]))
    assert frame.status[0].startswith("unreadable")


def test_seeds_of_one_configuration_are_aggregated(tmp_path, capsys):
    for seed, accuracy in [(1, 0.80), (2, 0.84), (3, 0.82)]:
        fabricate(tmp_path, f"gru{seed}", "imdb", "gru", accuracy, seed=seed)
    fabricate(tmp_path, "lstm1", "imdb", "lstm", 0.9, seed=1)  # one seed: no aggregate row
    fabricate(tmp_path, "gru4", "imdb", "gru", status="failed", seed=4)  # failed: not averaged
    runs = load_runs([tmp_path])
    [row] = seed_table(runs).to_dict("records")
    assert (row["cell"], row["runs"], row["seeds"]) == ("gru", 3, "1,2,3")
    assert row["primary"] == "accuracy=0.8200 ± 0.0200"
    assert table(runs).seed.tolist().count(1) == 2
    out = tmp_path / "table.md"
    assert main([str(tmp_path), "--format", "md", "--out", str(out)]) == 0
    assert "Mean ± std over seeds" in out.read_text() and "0.8200 ± 0.0200" in out.read_text()
    assert main([str(tmp_path)]) == 0 and "Mean ± std over seeds" in capsys.readouterr().out


def test_lower_is_better_metrics_rank_lowest_first(tmp_path):
    for seed in (1, 2):
        for cell, mse in [("gru", 0.01), ("simple_rnn", 0.16)]:
            fabricate(tmp_path, f"{cell}{seed}", "memory", cell, seed=seed, primary_metric="mse",
                      primary_goal="min", test={"mse": mse + seed / 1000})
    assert seed_table(load_runs([tmp_path])).cell.tolist() == ["gru", "simple_rnn"]
