"""`zoo.evaluate`: a saved run scored again on its test split, as trained or with its task's settings changed."""
import json

import pytest

from zoo import evaluate
from zoo.tracking import scalars


def trained_test_metrics(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())["test"]


@pytest.mark.parametrize("task", ["pos", "translation", "imdb"])
def test_a_saved_run_scores_its_test_split_as_training_did(trained, task):
    run_dir = trained(task)
    record = evaluate.evaluate(run_dir)
    assert scalars(record["test"]) == pytest.approx(scalars(trained_test_metrics(run_dir)), abs=1e-6)
    saved = json.loads((run_dir / evaluate.EVALUATIONS / "as_trained" / "metrics.json").read_text())
    assert scalars(saved["test"]) == pytest.approx(scalars(record["test"]))


def test_a_changed_setting_decodes_anew_and_leaves_the_runs_files(trained, capsys):
    run_dir = trained("translation")
    samples = (run_dir / "samples.json").read_bytes()
    evaluate.main([str(run_dir), "task.beam_size=3"])
    out = capsys.readouterr().out
    assert "task.beam_size=3" in out and "bleu" in out
    folder = run_dir / evaluate.EVALUATIONS / "task.beam_size=3"
    record = json.loads((folder / "metrics.json").read_text())
    assert record["settings"] == ["task.beam_size=3"] and record["bleu_signature"].startswith("nrefs:")
    assert (folder / "samples.json").exists() and (run_dir / "samples.json").read_bytes() == samples
    assert record["test"]["accuracy"] == pytest.approx(trained_test_metrics(run_dir)["accuracy"])  # teacher forced


def test_settings_that_cannot_change_get_one_line(trained, error_line, tmp_path):
    translation = trained("translation")

    def cli(*args) -> str:
        return error_line(evaluate.main, *args)

    assert cli(tmp_path) == f"error: {tmp_path} is not a run folder (it has no metrics.json)"
    assert "only task.KEY=VALUE and paths.data_dir=DIR" in cli(translation, "model.units=4")
    assert "only task.KEY=VALUE" in cli(translation, "task.name=imdb")
    assert "beam_size" in cli(translation, "task.beam_size=0")
    assert "no_such_setting" in cli(translation, "task.no_such_setting=1")
    assert "does not fit the trained model" in cli(translation, "task.limit=60")
    assert not (translation / evaluate.EVALUATIONS / "task.limit=60" / "metrics.json").exists()


def test_a_run_saved_before_newer_trainer_settings_scores_with_their_defaults(trained, tmp_path):
    import shutil

    from zoo import runs

    run_dir = shutil.copytree(trained("imdb"), tmp_path / "run")
    saved = json.loads((run_dir / runs.PREDICTOR).read_text())
    del saved["format"], saved["config"]["optimizer"]  # the layout before the run library, which had none of these
    for added in ("label_smoothing", "ema_momentum"):  # settings written
        del saved["config"]["trainer"][added]
    (run_dir / runs.PREDICTOR).write_text(json.dumps(saved))
    expected = scalars(trained_test_metrics(run_dir))
    assert scalars(evaluate.evaluate(run_dir)["test"]) == pytest.approx(expected, abs=1e-6)
