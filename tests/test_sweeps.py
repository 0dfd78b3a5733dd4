"""Sweeps beyond the basic launcher: parallel jobs with joblib and Ray, hyperparameter search with Optuna."""
import json

import pytest
import yaml

QUICK = ["debug=quick", "trainer.verbose=0", "model.embedding_dim=8", "task.limit=64"]


def finished_runs(sweep):
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]


LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    # a local Ray cluster started for the sweep; hydra.launcher.ray.init.address=... joins an existing one
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init.include_dashboard=false"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launchers_run_jobs_in_their_own_folders(zoo_cli, tmp_path, launcher):
    pytest.importorskip(f"hydra_plugins.hydra_{launcher}_launcher", reason='the ".[sweep]" extra')
    result = zoo_cli("-m", *LAUNCHERS[launcher], "task=bp", "cell=gru,simple_rnn", "model.units=4,8", *QUICK,
                     timeout=600)
    assert result.returncode == 0, result.stderr
    [sweep] = (tmp_path / "outputs" / "multiruns").iterdir()
    runs = finished_runs(sweep)
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)
    assert sorted((r["cell"], r["model"]["units"]) for r in runs) == [("gru", 4), ("gru", 8), ("simple_rnn", 4),
                                                                       ("simple_rnn", 8)]
    assert len((sweep / "results.csv").read_text().splitlines()) == 5


def test_optuna_search_survives_a_failed_trial_and_records_the_best(zoo_cli, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='the ".[sweep]" extra')
    # model.units=0 is refused by the config check, so every trial that draws it fails
    result = zoo_cli("hparams_search=imdb_optuna", "hydra.sweeper.n_trials=4",
                     "hydra.sweeper.params={model.units:'choice(0, 8)'}", *QUICK)
    [sweep] = (tmp_path / "outputs" / "multiruns").iterdir()
    runs = finished_runs(sweep)
    assert len(runs) == 4, result.stderr
    assert {r["status"] for r in runs} == {"ok", "failed"}
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_params"]["model.units"] == 8
    assert best["best_value"] == max(r["val"]["accuracy"] for r in runs if r["status"] == "ok")
