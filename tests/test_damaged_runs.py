"""Every way a run folder can be damaged is one line, wherever it is read (predict, evaluate, export, demo); in a
sweep folder a damaged run is named and skipped while the good runs answer; the demo on a taken port is one
line too."""
import json
import shutil
import socket

import pytest

from zoo import demo, evaluate, export, predict, runs

BP_INPUT = "age=52 gender=1 height=168 weight=81 cholesterol=1 gluc=1 smoke=0 alco=0 active=1"


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def still_training(run_dir):
    record = json.loads((run_dir / runs.RECORD).read_text())
    (run_dir / runs.RECORD).write_text(json.dumps({**record, "status": "running"}))


DAMAGE = {  # how -> (what it does to a run folder, the line's tail)
    "predictor.json missing": (lambda d: (d / runs.PREDICTOR).unlink(), "predates saved preprocessing"),
    "predictor.json truncated": (lambda d: truncate(d / runs.PREDICTOR), "predictor.json is damaged (not JSON"),
    "predictor.json not a config": (lambda d: (d / runs.PREDICTOR).write_text("[1, 2]"),
                                    "predictor.json is damaged (not a JSON object)"),
    "predictor.json without a spec": (lambda d: (d / runs.PREDICTOR).write_text('{"config": {}, "task": {}}'),
                                      "predictor.json is damaged (it lacks config, spec or task)"),
    "metrics.json missing": (lambda d: (d / runs.RECORD).unlink(), "is not a run folder (it has no metrics.json)"),
    "metrics.json truncated": (lambda d: truncate(d / runs.RECORD), "metrics.json is damaged (not JSON"),
    "model.keras missing": (lambda d: (d / runs.MODEL).unlink(), "has no model.keras"),
    "model.keras truncated": (lambda d: truncate(d / runs.MODEL), "model.keras cannot be loaded"),
    "still training": (still_training, "is not a finished run (status running)"),
}


@pytest.fixture
def bp_run(trained, tmp_path):
    """A copy of a finished bp run, to damage."""
    folder = tmp_path / "sweep" / "0"
    shutil.copytree(trained("bp"), folder)
    return folder


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_run_is_one_line_naming_it_in_every_command(bp_run, error_line, how, tmp_path):
    damage, tail = DAMAGE[how]
    damage(bp_run)
    for command, arguments in ((predict.main, ["--input", BP_INPUT]), (evaluate.main, []),
                               (export.main, ["--out", tmp_path / "served"]), (demo.main, ["--port", "0"])):
        line = error_line(command, bp_run, *arguments)
        assert line.startswith("error: ") and str(bp_run) in line and tail in line, (command.__module__, line)
    assert not (tmp_path / "served").exists()


@pytest.mark.parametrize("how", DAMAGE)
def test_in_a_sweep_the_damaged_run_is_named_and_skipped_and_the_others_answer(bp_run, how, capsys):
    sweep = bp_run.parent
    shutil.copytree(bp_run, sweep / "1")
    DAMAGE[how][0](bp_run)
    with pytest.raises(SystemExit) as exit_:
        predict.main([str(sweep), "--input", BP_INPUT, "--json"])
    out, err = capsys.readouterr()
    assert exit_.value.code == predict.SKIPPED_RUNS
    [answer] = [json.loads(line) for line in out.splitlines()]
    assert answer["run"] == str(sweep / "1") and answer["output"]["label"] in ("normal", "elevated", "high")
    [line] = err.splitlines()
    assert line.startswith(f"skipped: {bp_run}") and DAMAGE[how][1] in line


def test_a_sweep_with_no_usable_run_is_one_line(bp_run, error_line):
    truncate(bp_run / runs.PREDICTOR)
    line = error_line(predict.main, bp_run.parent, "--input", BP_INPUT)
    assert line.startswith(f"error: {bp_run.parent} holds no usable run: {bp_run}")


def test_a_failed_job_of_a_sweep_is_left_out_without_a_word(bp_run, capsys):
    shutil.copytree(bp_run, bp_run.parent / "1")
    record = json.loads((bp_run / runs.RECORD).read_text())
    (bp_run / runs.RECORD).write_text(json.dumps({**record, "status": "failed", "error": "ValueError: x"}))
    predict.main([str(bp_run.parent), "--input", BP_INPUT])
    assert capsys.readouterr().err == ""


def test_the_demo_on_a_taken_port_is_one_line(trained, error_line):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(demo.main, trained("bp"), "--port", port)
    assert line.startswith(f"error: port {port} cannot be served on") and "--port" in line


def test_without_a_port_the_demo_takes_the_default_or_a_free_one():
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", demo.DEFAULT_PORT))
        except OSError:
            pass  # taken by something else already: the same case
        taken.listen()
        port = demo.free_port(None)
    assert port != demo.DEFAULT_PORT and port > 0
