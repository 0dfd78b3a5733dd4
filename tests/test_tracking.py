"""logger=mlflow: every run in a real MLflow store (SQLite), read back with MLflow's own client: a sweep's jobs
with their params, tags, per-epoch and test metrics and artifacts; failed and NaN runs; a killed run resumed as
one MLflow run; the MLflow UI showing the sweep in headless Chromium."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TEST_DATA
from test_resume import SLOW, history

from zoo.errors import NonFiniteLoss
from zoo.resume import checkpointed_epochs
from zoo.runner import run

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install -e '.[tracking]')")
from mlflow.tracking import MlflowClient  # noqa: E402

QUICK_BP = ["task=bp", "trainer.epochs=2", "trainer.verbose=0", "model.units=8", "logger=mlflow"]


def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep of three cells and one refused job (cell=none cannot read bp's one_to_one), logged to MLflow by
    jobs in parallel processes (the joblib launcher): the first to open the new store must not race the others."""
    folder = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    result = subprocess.run([sys.executable, "-m", "zoo", "-m", "hydra/launcher=joblib", *QUICK_BP,
                             "cell=simple_rnn,lstm,gru,none",
                             f"logger.mlflow.tracking_uri={store(folder)}", "hydra.sweep.dir=sweeps/three_cells"],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert "1 of 4 jobs did not finish" in result.stderr, result.stderr
    return folder, folder / "sweeps" / "three_cells"


def test_a_sweep_is_one_experiment_with_every_jobs_params_metrics_tags_and_files(sweep):
    folder, sweep_dir = sweep
    client = MlflowClient(store(folder))
    experiment = client.get_experiment_by_name("three_cells")
    runs = {r.data.tags["cell"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"simple_rnn", "lstm", "gru", "none"}
    for job, cell in enumerate(["simple_rnn", "lstm", "gru"]):
        mlflow_run, run_dir = runs[cell], sweep_dir / str(job)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert mlflow_run.info.status == "FINISHED"
        assert {"task": "bp", "cell": cell, "topology": "one_to_one", "seed": "42", "job": str(job),
                "sweep": "sweeps/three_cells"}.items() <= mlflow_run.data.tags.items()
        assert mlflow_run.data.params["model.units"] == "8" and mlflow_run.data.params["cell.name"] == cell
        assert mlflow_run.data.params["trainer.epochs"] == "2" and mlflow_run.data.params["task.name"] == "bp"
        rows = history(run_dir)
        for name in ("loss", "val_accuracy", "seconds"):
            logged = client.get_metric_history(mlflow_run.info.run_id, name)
            assert [(m.step, m.value) for m in sorted(logged, key=lambda m: m.step)] == \
                [(int(row["epoch"]), pytest.approx(float(row[name]))) for row in rows]
        assert mlflow_run.data.metrics["test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])
        assert mlflow_run.data.metrics["baseline_accuracy"] == pytest.approx(metrics["baseline_accuracy"])
        files = {f.path for f in client.list_artifacts(mlflow_run.info.run_id)}
        assert {"metrics.json", "history.csv", "predictions.jsonl"} <= files
        assert json.loads((run_dir / "mlflow_run.json").read_text())["run_id"] == mlflow_run.info.run_id
    refused = runs["none"]
    assert refused.info.status == "FAILED" and "cell=none" in refused.data.tags["error"]


def test_compare_reads_the_same_table_from_mlflow_as_from_the_folders(sweep, capsys):
    from zoo import compare

    folder, sweep_dir = sweep
    assert compare.main([str(sweep_dir), "--format", "csv"]) == 0
    from_folders = capsys.readouterr().out
    assert compare.main(["--mlflow", store(folder), "--experiment", "three_cells", "--format", "csv"]) == 0
    assert capsys.readouterr().out == from_folders and from_folders.count("\nbp,") == 4
    assert compare.main(["--mlflow", store(folder), "--experiment", "nowhere"]) == 1
    assert "has no experiment 'nowhere'" in capsys.readouterr().err


def test_a_nan_run_is_failed_with_its_epoch(make_config, tmp_path):
    cfg = make_config("task=bp", "trainer.learning_rate=1e37", "trainer.clipnorm=null", "cell=simple_rnn",
                      "model.units=64", "logger=mlflow", f"logger.mlflow.tracking_uri={store(tmp_path)}")
    (tmp_path / "run").mkdir()
    with pytest.raises(NonFiniteLoss):
        run(cfg, tmp_path / "run")
    [failed] = MlflowClient(store(tmp_path)).search_runs(
        [MlflowClient(store(tmp_path)).get_experiment_by_name("runs").experiment_id])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert failed.info.status == "FAILED" and failed.data.tags["failed_epoch"] == str(metrics["failed_epoch"])
    assert failed.data.tags["error"].startswith("NonFiniteLoss: loss became")


def test_a_killed_run_resumed_is_one_mlflow_run_with_each_epoch_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    command = [sys.executable, "-m", "zoo", *SLOW, "logger=mlflow", f"logger.mlflow.tracking_uri={store(tmp_path)}"]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs_dir = tmp_path / "outputs" / "runs" / "memory"
    deadline = time.monotonic() + 240
    while not any(checkpointed_epochs(folder) for folder in runs_dir.glob("*/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the epoch's MLflow record follows its checkpoint
    first.send_signal(signal.SIGKILL)
    first.wait()
    [run_dir] = runs_dir.glob("*/*")
    assert checkpointed_epochs(run_dir) == 1
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    client = MlflowClient(store(tmp_path))
    [resumed] = client.search_runs([client.get_experiment_by_name("runs").experiment_id])
    assert resumed.info.status == "FINISHED"
    logged = client.get_metric_history(resumed.info.run_id, "loss")
    assert sorted(m.step for m in logged) == [0, 1, 2]
    assert [pytest.approx(float(row["loss"])) for row in history(run_dir)] == \
        [m.value for m in sorted(logged, key=lambda m: m.step)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_mlflow_ui_shows_the_sweep_and_its_runs(sweep, tmp_path):
    from test_demo import chromium, missing

    if missing() is not None:
        pytest.skip(missing())
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder, _ = sweep
    port = free_port()
    env = {**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store(folder),
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = MlflowClient(store(folder))
        experiment = client.get_experiment_by_name("three_cells")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        with chromium(tmp_path) as browser:
            # MLflow 3's UI opens on its GenAI views; a training experiment's runs are under "Model training"
            browser.get(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs"
                        "?workflowType=machine_learning")
            wait = WebDriverWait(browser, 120)
            wait.until(lambda b: "gru-one_to_one-2" in b.find_element(By.TAG_NAME, "body").text)
            text = browser.find_element(By.TAG_NAME, "body").text
            assert "three_cells" in text and "lstm-one_to_one-1" in text and "simple_rnn-one_to_one-0" in text
    finally:
        server.terminate()
        server.wait(timeout=30)
