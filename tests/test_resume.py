"""Fault tolerance: a killed run continues where it stopped, a finished run is not retrained, NaN keeps the
checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
from conftest import ROOT, TEST_DATA

from zoo.errors import NonFiniteLoss
from zoo.resume import checkpointed_epochs
from zoo.runner import ResumableEarlyStopping, history_rows, keep_history, run

# about a second per epoch on 2 cores: long enough to be killed in the middle of one
SLOW = ["task=memory", "task.length=150", "task.train_examples=2000", "cell=gru", "model.units=8",
        "trainer.batch_size=16", "trainer.epochs=3", "trainer.patience=5", "trainer.verbose=0",
        "trainer.jit_compile=false"]


def history(run_dir) -> list[dict]:
    return history_rows(run_dir / "history.csv")


def test_killed_run_continues_from_its_checkpoint_when_the_same_command_runs_again(zoo_cli, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    first = subprocess.Popen([sys.executable, "-m", "zoo", *SLOW], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "outputs" / "runs" / "memory"
    deadline = time.monotonic() + 240
    while not any(checkpointed_epochs(folder) for folder in runs.glob("*/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # epoch 1 is saved; epoch 2 (about a second long) has begun
    first.wait()
    [run_dir] = runs.glob("*/*")
    assert checkpointed_epochs(run_dir) == 1
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    first_epoch = history(run_dir)[0]

    again = zoo_cli(*SLOW)
    assert again.returncode == 0, again.stderr
    assert f"resuming {run_dir} after epoch 1" in again.stdout
    assert list(runs.glob("*/*")) == [run_dir]  # no second folder
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs_run"] == 3
    epochs = history(run_dir)
    assert [row["epoch"] for row in epochs] == ["0", "1", "2"] and epochs[0] == first_epoch  # epoch 1 not redone
    assert float(epochs[0]["seconds"]) < float(epochs[1]["seconds"]) < float(epochs[2]["seconds"])
    assert not (run_dir / "checkpoint").exists()

    finished = zoo_cli(*SLOW)
    assert finished.returncode == 0 and "already finished, not retrained" in finished.stdout
    assert list(runs.glob("*/*")) == [run_dir]
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    named = zoo_cli(f"trainer.resume={run_dir}")
    assert named.returncode == 0 and f"already finished, not retrained: {run_dir}" in named.stdout


def test_resume_names_a_run_folder(zoo_cli, tmp_path):
    result = zoo_cli("task=bp", f"trainer.resume={tmp_path}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"error: trainer.resume={tmp_path} is not a run folder (it has no .hydra/overrides.yaml)"


class PoisonWeightsInEpochTwo(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.model.trainable_weights[0].assign(self.model.trainable_weights[0] * float("nan"))


def test_nan_loss_fails_with_its_epoch_and_keeps_the_checkpoint(make_config, tmp_path, monkeypatch):
    from tasks import bp

    monkeypatch.setattr(bp.Task, "callbacks", lambda self, run_dir: [PoisonWeightsInEpochTwo()])
    with pytest.raises(NonFiniteLoss, match=r"loss became nan in epoch 2, batch 1"):
        run(make_config("task=bp", "trainer.epochs=3"), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["failed_epoch"] == 2
    assert json.loads((tmp_path / "checkpoint" / "training_metadata.json").read_text())["epoch"] == 1
    assert len(history(tmp_path)) == 1


class KilledWhileWriting(Exception):
    pass


def killed_while_writing_epoch_two(config, run_dir, monkeypatch) -> None:
    """Run `config` until the checkpoint of epoch 2 is half written, then fail as a killed process would."""
    save_weights, checkpoints = keras.Model.save_weights, []

    def torn_second_checkpoint(model, filepath, *args, **kwargs):
        if "checkpoint" in str(filepath):
            checkpoints.append(filepath)
            if len(checkpoints) == 2:  # epoch 2's weights: the file begun, then the process is gone
                open(filepath, "wb").write(b"\x89HDF\r\n\x1a\n" + bytes(64))
                raise KilledWhileWriting
        return save_weights(model, filepath, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save_weights", torn_second_checkpoint)
        with pytest.raises(KilledWhileWriting):
            run(config, run_dir)


def test_a_kill_while_the_checkpoint_is_written_leaves_the_last_complete_epoch(make_config, tmp_path, monkeypatch):
    config = make_config("task=bp", "trainer.epochs=3")
    killed_while_writing_epoch_two(config, tmp_path, monkeypatch)
    assert checkpointed_epochs(tmp_path) == 1
    record = run(config, tmp_path)
    assert record["status"] == "ok" and record["epochs_run"] == 3
    assert [row["epoch"] for row in history(tmp_path)] == ["0", "1", "2"]


def test_a_run_interrupted_before_compile_seconds_were_logged_resumes_with_its_columns_in_place(
        make_config, tmp_path, monkeypatch):
    config = make_config("task=bp", "trainer.epochs=3")
    killed_while_writing_epoch_two(config, tmp_path, monkeypatch)
    [first, _] = history(tmp_path)
    old = {k: v for k, v in first.items() if k != "compile_seconds"}  # history.csv as earlier versions wrote it
    (tmp_path / "history.csv").write_text(",".join(old) + "\n" + ",".join(old.values()) + "\n")
    record = run(config, tmp_path)
    epochs = history(tmp_path)
    assert record["status"] == "ok" and [row["epoch"] for row in epochs] == ["0", "1", "2"]
    assert epochs[0] == {**first, "compile_seconds": "0.0"} and None not in epochs[2]  # nothing shifted
    assert float(epochs[0]["seconds"]) < float(epochs[1]["seconds"]) < float(epochs[2]["seconds"])


def test_resuming_keeps_the_saved_epochs_rows_as_written(tmp_path):
    saved = "epoch,compile_seconds,loss,seconds\n0,2.34,0.6177350282669067,6.15\n1,0,0.16768896579742432,9.58\n"
    (tmp_path / "history.csv").write_text(saved + "2,0,0.1,12.01\n")  # epoch 2 ran after the last checkpoint
    keep_history(tmp_path / "history.csv", 2)
    assert (tmp_path / "history.csv").read_text() == saved


class DieAfterTheLastEpochWasSaved(keras.callbacks.Callback):
    """Fails at the end of fit, before BackupAndRestore (the last callback) clears the checkpoint."""

    def on_train_end(self, logs=None):
        raise RuntimeError("killed after the last epoch")


def test_a_run_killed_after_it_stopped_trains_no_further_when_resumed(make_config, tmp_path, monkeypatch):
    from tasks import bp

    config = make_config("task=bp", "trainer.epochs=4", "trainer.stop_at=0.0")  # any accuracy: stop after epoch 1
    with monkeypatch.context() as patch:
        patch.setattr(bp.Task, "callbacks", lambda self, run_dir: [DieAfterTheLastEpochWasSaved()])
        with pytest.raises(RuntimeError, match="killed after the last epoch"):
            run(config, tmp_path)
    assert checkpointed_epochs(tmp_path) == 1
    record = run(config, tmp_path)
    assert record["status"] == "ok" and record["epochs_run"] == 1 and len(history(tmp_path)) == 1
    assert not (tmp_path / "checkpoint").exists()


@pytest.mark.parametrize("previous, patience, wait, stopped", [
    ([0.5, 0.6, 0.6, 0.55], 2, 2, True),  # no better than epoch 2 for two epochs
    ([0.5, 0.6, 0.6], 2, 1, False),
    ([0.5], 0, 0, False),  # EarlyStopping never stops after the first epoch
    ([], 0, 0, False),
])
def test_early_stopping_counts_the_epochs_before_an_interruption(previous, patience, wait, stopped):
    early_stopping = ResumableEarlyStopping("val_accuracy", mode="max", patience=patience, previous=previous)
    assert early_stopping.stopped_before == stopped
    early_stopping.on_train_begin()
    assert early_stopping.wait == wait
