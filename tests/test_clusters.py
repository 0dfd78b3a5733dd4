"""Sweeps on real clusters that lose jobs and nodes: a one-node Slurm reached through submitit (sbatch, sacct,
scancel), and a Ray cluster of three nodes, one of which is killed while it trains (tests/clusters.py starts
both). In each the same command afterwards finishes what was lost and retrains nothing that finished."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TEST_DATA
from test_resume import SLOW

import clusters
from zoo.resume import checkpointed_epochs

SWEEP = ["cell=gru,simple_rnn", "model.units=4,8"]  # four jobs of SLOW's run: about a second an epoch each


def zoo_sweep(tmp_path, env, *overrides, wait=True):
    command = [sys.executable, "-m", "zoo", "-m", *SLOW, *SWEEP, f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    env = {**env, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def wait_until(check, timeout=300):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


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
