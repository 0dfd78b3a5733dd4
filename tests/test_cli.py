"""The command line as a user meets it: one clear line on bad input, run folders, sweeps with their table."""
import json

import pytest

QUICK = ["debug=quick", "trainer.limit_batches=2", "model.units=8", "model.embedding_dim=8", "task.limit=64"]


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_single_run_leaves_a_complete_folder(zoo_cli, tmp_path):
    result = zoo_cli("task=bp", "cell=lstm", *QUICK)
    assert result.returncode == 0, result.stderr
    [run_dir] = (tmp_path / "outputs" / "runs" / "bp").glob("lstm-one_to_one/*")
    assert {"metrics.json", "history.csv", "model.keras", ".hydra"} <= {p.name for p in run_dir.iterdir()}
    assert (run_dir / ".hydra" / "config.yaml").read_text().count("name: lstm") == 1
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "ok"


def test_invalid_combination_is_one_line_and_non_zero(zoo_cli):
    result = zoo_cli("task=imdb", "topology=one_to_many", *QUICK)
    assert result.returncode != 0
    assert error_lines(result) == [
        "error: task=imdb cannot use topology=one_to_many (tokens in, class out); valid: many_to_one"]
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_data_is_one_line_and_non_zero(zoo_cli, tmp_path):
    result = zoo_cli("task=bp", f"paths.data_dir={tmp_path}", *QUICK)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = error_lines(result)
    assert "missing cardio_train/cardio_train.csv.gz or cardio_train/cardio_train.csv under" in line


def test_bad_size_is_one_line(zoo_cli):
    result = zoo_cli("task=bp", *QUICK, "model.units=0")
    assert result.returncode != 0 and error_lines(result) == ["error: model.units must be > 0, got 0"]


@pytest.mark.parametrize("override,expected", [
    ("cell=rnn", "error: Could not find 'cell/rnn'; available: gru, lstm, none, simple_rnn"),
    ("trainer.epochs=abc", "error: Error merging override trainer.epochs=abc: Value 'abc' of type 'str' could not "
                           "be converted to Integer"),
    ("model.unitz=3", "error: Could not override 'model.unitz': Key 'unitz' not in 'ModelConfig'"),
])
def test_config_mistakes_are_one_line(zoo_cli, override, expected):
    result = zoo_cli("task=bp", override)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == expected and error_lines(result) == [expected]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr


def test_multirun_writes_the_table_including_failures(zoo_cli, tmp_path):
    result = zoo_cli("-m", "task=bp", "topology=one_to_one,seq2seq", "cell=gru", *QUICK)
    assert result.returncode != 0  # one job failed; the sweep still finished
    assert "error: 1 of 2 jobs did not finish (1 failed)" in result.stderr
    [sweep] = (tmp_path / "outputs" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    table = (sweep / "results.csv").read_text().splitlines()
    assert table[0].startswith("task,topology,cell")
    assert len(table) == 3
    assert any(",seq2seq,gru," in row and "failed" in row for row in table)
    assert any(",one_to_one,gru," in row and ",ok" in row for row in table)
    assert (sweep / "results.md").exists()


def test_compare_reads_finished_runs(zoo_cli, tmp_path):
    assert zoo_cli("task=bp", "cell=simple_rnn", *QUICK).returncode == 0
    result = zoo_cli("outputs", "--format", "csv", module="zoo.compare")
    assert result.returncode == 0 and ",one_to_one,simple_rnn," in result.stdout


PRINT_WHETHER_TENSORFLOW_LOADED = ("import atexit, runpy, sys; "
                                   "atexit.register(lambda: print('tensorflow.python' in sys.modules)); ")


@pytest.mark.parametrize("args,line", [
    (["cell=rnn"], "error: Could not find 'cell/rnn'; available: gru, lstm, none, simple_rnn"),
    (["task=imdb", "topology=one_to_many", *QUICK],
     "error: task=imdb cannot use topology=one_to_many (tokens in, class out); valid: many_to_one"),
    (["task=imdb", "task.max_length=0"], "error: task.max_length must be > 0, got 0"),
    (["task=translation", "model.units=0"], "error: model.units must be > 0, got 0"),
    (["trainer.max_seconds=-5"], "error: trainer.max_seconds must be > 0, got -5.0"),
    (["optimizer=adamw", "optimizer.weight_decay=-0.1"], "error: optimizer.weight_decay must be >= 0, got -0.1"),
    (["trainer.ema_momentum=1"], "error: trainer.ema_momentum must be in (0, 1) or null (off), got 1.0"),
    (["trainer.label_smoothing=1"], "error: trainer.label_smoothing must be in [0, 1), got 1.0"),
    (["task=memory", "task.variant=adding", "trainer.label_smoothing=0.1"],
     "error: trainer.label_smoothing is for tasks that predict classes or tokens; task=memory here predicts a value"),
    (["task=bp", "model.bigram_buckets=1000"], "error: model.bigram_buckets is for tasks that read words; task=bp "
                                                "reads features"),
    (["task=imdb", "model.bigram_buckets=2"], "error: model.bigram_buckets must be 0 (off) or >= 3 (one is padding, "
                                              "one the unknown pair), got 2"),
    (["task=imdb", "model.bigram_dropout=0.5"], "error: model.bigram_dropout drops word pairs, which need "
                                                "model.bigram_buckets > 0"),
    (["task=pos", "model.pooling=max"], "error: model.pooling=max is for topology=many_to_one (it pools the "
                                           "steps' states into one answer), not topology=synced"),
    (["task=video", "task.gap=20"], "error: task.gap=20 does not fit a clip of task.frames=20: a clip shows a digit "
                                    "first, so gap must be below frames"),
    (["trainer.epochs=abc"], "error: Error merging override trainer.epochs=abc: Value 'abc' of type 'str' could "
                             "not be converted to Integer"),
])
def test_config_errors_are_all_the_console_shows_and_come_before_tensorflow(zoo_cli, tmp_path, args, line):
    code = f"{PRINT_WHETHER_TENSORFLOW_LOADED} sys.argv[1:] = {args!r}; runpy.run_module('zoo', run_name='__main__')"
    result = zoo_cli("-c", code, module=None)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]  # no TensorFlow start-up lines, no traceback
    assert result.stdout == "False\n"  # answered without loading TensorFlow
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # and no run folder left behind


def test_a_data_error_is_all_the_console_shows(zoo_cli, tmp_path):
    result = zoo_cli("task=bp", f"paths.data_dir={tmp_path}", *QUICK)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: missing cardio_train/cardio_train.csv.gz")
