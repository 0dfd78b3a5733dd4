"""Sweeps on real clusters that lose jobs and nodes: a one-node Slurm reached through submitit (sbatch, sacct,
scancel), and a Ray cluster of three nodes, one of which is killed while it trains (tests/clusters.py starts
both). In each the same command afterwards finishes what was lost and retrains nothing that finished."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import clusters
import pytest
from conftest import ROOT, TEST_DATA
from test_resume import SLOW

from zoo.resume import LOCK, checkpointed_epochs

SWEEP = ["cell=gru,simple_rnn", "model.units=4,8"]  # four jobs of SLOW's run: about a second an epoch each


def zoo_sweep(tmp_path, env, *overrides, sweep=SWEEP, wait=True):
    command = [sys.executable, "-m", "zoo", "-m", *SLOW, *sweep, f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    env = {**env, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def wait_until(check, timeout=300):
    """The first true value `check` returns, polled every 0.2 s."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value


def records(sweep):
    return {int(folder.name): json.loads((folder / "metrics.json").read_text())
            for folder in sweep.iterdir() if (folder / "metrics.json").exists()}


def history_rows(run_dir):
    return (run_dir / "history.csv").read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if why := clusters.slurm_missing():
        pytest.skip(why)
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='the ".[sweep]" extra')
    cluster = clusters.Slurm(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


def test_a_slurm_sweep_resumes_the_job_scancel_stopped_and_retrains_nothing_finished(slurm, tmp_path):
    launcher = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1"]
    first = zoo_sweep(tmp_path, slurm.env, *launcher, wait=False)
    job = tmp_path / "sweep" / "0"
    wait_until(lambda: checkpointed_epochs(job) >= 1 or first.poll() is not None)
    [slurm_id] = [i for i in slurm.command("squeue", "-h", "-o", "%i").stdout.split() if i.endswith("_0")]
    slurm.command("scancel", slurm_id)  # in its second epoch: the first is saved (SIGTERM, SIGKILL 5 s later)
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 1 and "1 of 4 jobs did not finish (1 interrupted)" in stderr, stdout + stderr
    assert f"job {slurm_id} ended before its run finished" in stdout + stderr
    before = records(tmp_path / "sweep")
    saved = checkpointed_epochs(job)  # 1, or 2 where the job finished its second epoch in Slurm's KillWait
    assert before[0]["status"] == "interrupted" and 1 <= saved < 3
    assert [before[n]["status"] for n in (1, 2, 3)] == ["ok"] * 3
    assert "interrupted" in (tmp_path / "sweep" / "results.md").read_text()
    saved_epochs = history_rows(job)[:saved]

    again = zoo_sweep(tmp_path, slurm.env, *launcher)
    assert again.returncode == 0, again.stdout + again.stderr
    after = records(tmp_path / "sweep")
    assert after[0]["status"] == "ok" and after[0]["epochs_run"] == 3
    assert history_rows(job)[:saved] == saved_epochs  # resumed after its last saved epoch, not restarted
    assert all(after[n] == before[n] for n in (1, 2, 3))  # the finished jobs were not retrained
    assert len(list((tmp_path / "sweep").glob("[0-9]*"))) == 4


def lock_holder(run_dir) -> int | None:
    """The pid of the process that holds the run folder's lock (from /proc/locks), if one does."""
    inode = (run_dir / LOCK).stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "FLOCK" and int(fields[5].split(":")[2]) == inode:
            return int(fields[4])
    return None


@pytest.fixture
def ray_cluster():
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason='the ".[sweep]" extra')
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    cluster = clusters.Ray(folder, workers=2).start()
    yield cluster
    cluster.stop()


def test_a_ray_sweep_on_three_nodes_finishes_every_job_when_a_node_dies_mid_job(ray_cluster, tmp_path):
    """Tracked in MLflow as well: the lost job is one MLflow run whatever attempt finished it."""
    MlflowClient = pytest.importorskip("mlflow.tracking", reason='the ".[tracking]" extra').MlflowClient
    six_jobs = ["cell=gru,simple_rnn,lstm", "model.units=4,8"]
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # absolute: a worker node's process has its own working folder
    launcher = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_cluster.address}",
                "+hydra.launcher.ray.init.object_store_memory=null",  # the launcher sets one, which joining refuses
                "+hydra.launcher.ray.remote.num_cpus=1", "+hydra.launcher.ray.remote.max_retries=3",
                "logger=mlflow", f"logger.mlflow.tracking_uri={store}"]
    first = zoo_sweep(tmp_path, ray_cluster.env, *launcher, sweep=six_jobs, wait=False)
    sweep = tmp_path / "sweep"

    def training_after_an_epoch():  # (its folder, the pid of the process training it), or "ended"
        if first.poll() is not None:
            return "ended"
        for folder in sweep.glob("[0-9]*"):
            if checkpointed_epochs(folder) >= 1 and (pid := lock_holder(folder)) \
                    and json.loads((folder / "metrics.json").read_text())["status"] == "running":
                return folder, pid

    found = wait_until(training_after_an_epoch)
    assert found != "ended", first.communicate()
    job, pid = found
    saved = checkpointed_epochs(job)
    saved_epochs = history_rows(job)[:saved]
    ray_cluster.kill_node_running(pid)
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stdout + stderr
    after = records(sweep)
    assert len(after) == 6 and all(r["status"] == "ok" and r["epochs_run"] == 3 for r in after.values())
    for folder in sweep.glob("[0-9]*"):  # every epoch once, in order: no folder written by two processes
        assert [row.split(",")[0] for row in history_rows(folder)] == ["0", "1", "2"]
    assert history_rows(job)[:saved] == saved_epochs  # Ray ran the lost job again: it resumed, not restarted
    assert f"resuming {job} after epoch {saved}" in (job / "__main__.log").read_text()
    client = MlflowClient(store)
    tracked = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    assert sorted(r.data.tags["run_folder"] for r in tracked) == sorted(str(f) for f in sweep.glob("[0-9]*"))
    assert all(r.info.status == "FINISHED" for r in tracked)
    [lost] = [r for r in tracked if r.data.tags["run_folder"] == str(job)]
    assert [m.step for m in client.get_metric_history(lost.info.run_id, "loss")] == [0, 1, 2]  # each epoch once
    assert lost.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())  # beside the store, not a node's

    again = zoo_sweep(tmp_path, ray_cluster.env, *launcher, sweep=six_jobs)
    assert again.returncode == 0 and records(sweep) == after  # nothing left to train
