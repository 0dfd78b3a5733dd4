"""Runs saved before the run library (predictor.json without a format number, commit d7e8757) still load and
answer as they did then, gates and attention included (tests/data/saved_runs, tests/data/README.md)."""
import json

import pytest
from conftest import TEST_DATA

from zoo import predict, runs

SAVED = TEST_DATA / "saved_runs"


@pytest.mark.parametrize("task", ["imdb", "pos", "translation", "bp"])
def test_a_run_saved_by_the_earlier_layout_answers_as_it_did(task, capsys):
    then = [json.loads(line) for line in (SAVED / task / "answers.jsonl").read_text().splitlines()]
    assert "format" not in json.loads((SAVED / task / runs.PREDICTOR).read_text())
    arguments = [str(SAVED / task), *(a for answer in then for a in ("--input", answer["input"])), "--json"]
    predict.main([*arguments, *(["--steps"] if "steps" in then[0]["output"] else [])])
    now = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [answer["input"] for answer in now] == [answer["input"] for answer in then]
    assert [answer["output"] for answer in now] == approx_nested([answer["output"] for answer in then])


def approx_nested(value):
    """`value` with every float as pytest.approx, for answers whose numbers are nested in lists and dicts."""
    if isinstance(value, float):
        return pytest.approx(value, abs=1e-5)
    if isinstance(value, list):
        return [approx_nested(v) for v in value]
    if isinstance(value, dict):
        return {k: approx_nested(v) for k, v in value.items()}
    return value


def test_the_earlier_layout_is_upgraded_with_the_trainer_defaults_it_predates():
    loaded = runs.load(SAVED / "imdb")
    assert loaded.cfg.optimizer == {"name": "adam", "weight_decay": 0.0} and loaded.cfg.trainer.ema_momentum is None
    assert "sparse_updates" not in loaded.cfg.trainer and "weight_decay" not in loaded.cfg.trainer
    saved = json.loads((SAVED / "imdb" / runs.PREDICTOR).read_text())
    assert runs.upgrade(saved)["format"] == runs.FORMAT


def test_a_layout_newer_than_this_zoo_is_one_line(tmp_path, error_line):
    import shutil

    shutil.copytree(SAVED / "bp", tmp_path / "bp")
    saved = json.loads((tmp_path / "bp" / runs.PREDICTOR).read_text())
    (tmp_path / "bp" / runs.PREDICTOR).write_text(json.dumps({**saved, "format": runs.FORMAT + 1}))
    line = error_line(predict.main, tmp_path / "bp", "--input", "age=52")
    assert line == f"error: {runs.PREDICTOR} has layout {runs.FORMAT + 1}, newer than this zoo reads " \
                   f"({runs.FORMAT}): update the zoo"


@pytest.mark.parametrize("format_,sparse_updates,weight_decay,optimizer", [
    (None, True, 0.0, "lazy_adam"), (2, False, 0.3, "adamw"), (2, True, 0.3, "lazy_adam"), (2, False, 0.0, "adam")])
def test_the_trainer_switches_of_earlier_layouts_become_the_optimizer_they_chose(format_, sparse_updates,
                                                                                 weight_decay, optimizer):
    saved = {"config": {"trainer": {"epochs": 3, "sparse_updates": sparse_updates, "weight_decay": weight_decay}},
             "spec": {}, "task": {}, **({"format": format_} if format_ else {})}
    config = runs.upgrade(saved)["config"]
    assert config["optimizer"] == {"name": optimizer, "weight_decay": weight_decay}
    assert not {"sparse_updates", "weight_decay"} & set(config["trainer"]) and config["trainer"]["epochs"] == 3
