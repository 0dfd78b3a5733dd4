"""The runner end to end: every cell x valid topology for both tasks, the run folder, and failures."""
import csv
import json

import keras
import pytest

from zoo.cells import CELLS
from zoo.errors import IncompatibleTopology, NonFiniteLoss
from zoo.runner import TimeBudget, run

COMBINATIONS = [("imdb", "many_to_one"), ("bp", "one_to_one"), ("bp", "many_to_one"), ("pos", "synced"),
                ("pos", "seq2seq"), ("translation", "seq2seq"), ("captioning", "one_to_many"),
                ("captioning", "seq2seq")]
SHORT = ["trainer.epochs=1", "trainer.limit_batches=2", "task.limit=64"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("task,topology", COMBINATIONS)
def test_every_valid_combination_trains(make_config, tmp_path, task, topology, cell):
    cfg = make_config(f"task={task}", f"topology={topology}", f"cell={cell}", *SHORT)
    metrics = run(cfg, tmp_path)
    assert metrics["status"] == "ok"
    assert (metrics["task"], metrics["topology"], metrics["cell"]) == (task, topology, cell)
    assert metrics["epochs_run"] == 1 and metrics["params"] > 0
    assert {"accuracy", "loss"} <= set(metrics["test"]) and 0 <= metrics["test"]["accuracy"] <= 1
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert (tmp_path / "history.csv").read_text().startswith(
        "epoch,accuracy,compile_seconds,loss,seconds,val_accuracy,val_loss")
    assert (tmp_path / "model.keras").stat().st_size > 0


def test_bp_learns_and_records_its_baseline(make_config, tmp_path):
    metrics = run(make_config("task=bp", "trainer.epochs=8", "model.units=16", "trainer.patience=8"), tmp_path)
    assert metrics["val"]["accuracy"] > 0.5  # 3 classes: well above chance on a 400-row excerpt
    assert 0 < metrics["baseline_accuracy"] <= 1 and metrics["dropped_rows"] >= 0
    assert metrics["epochs_run"] == 8 and len((tmp_path / "history.csv").read_text().splitlines()) == 9


def test_early_stopping_keeps_the_best_epoch(make_config, tmp_path):
    metrics = run(make_config("task=bp", "trainer.epochs=20", "trainer.patience=1", "trainer.learning_rate=0.05"),
                  tmp_path)
    assert metrics["epochs_run"] < 20
    history = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert metrics["val"]["accuracy"] == max(float(epoch["val_accuracy"]) for epoch in history)
    assert 0 < float(history[0]["seconds"]) < float(history[-1]["seconds"])


def test_the_learning_rate_decays_by_lr_decay_each_epoch(make_config, tmp_path):
    run(make_config("task=bp", "trainer.epochs=3", "trainer.patience=3", "trainer.learning_rate=0.01",
                    "trainer.lr_decay=0.5", "trainer.limit_batches=2"), tmp_path)
    history = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert [float(epoch["learning_rate"]) for epoch in history] == pytest.approx([0.01, 0.005, 0.0025])


@pytest.mark.parametrize("stop_at,epochs_run", [(0.0, 1), (1.01, 3)])
def test_training_stops_once_validation_reaches_stop_at(make_config, tmp_path, stop_at, epochs_run):
    metrics = run(make_config("task=bp", "trainer.epochs=3", "trainer.patience=3", f"trainer.stop_at={stop_at}"),
                  tmp_path)
    assert metrics["epochs_run"] == epochs_run  # accuracy is always >= 0 and never >= 1.01


def test_the_time_budget_stops_before_an_epoch_that_would_end_past_it():
    budget = TimeBudget(100, previous=[])
    budget.set_model(keras.Sequential())
    budget.model.stop_training = False  # as fit sets it
    stopped = []
    for epoch, seconds in enumerate([20, 60, 75]):  # the longest epoch took 40 s: a fourth could end at 115 s
        budget.on_epoch_end(epoch, {"seconds": seconds})
        stopped.append(budget.model.stop_training)
    assert stopped == [False, False, True]
    assert TimeBudget(100, previous=[20, 60, 75]).stopped_before  # a resumed run: spent before it began
    assert not TimeBudget(100, previous=[20, 50]).stopped_before


def test_a_run_with_a_spent_time_budget_stops_after_its_first_epoch(make_config, tmp_path):
    metrics = run(make_config("task=bp", "trainer.epochs=3", "trainer.max_seconds=0.001"), tmp_path)
    assert metrics["epochs_run"] == 1


def test_invalid_combination_writes_a_failed_record(make_config, tmp_path):
    with pytest.raises(IncompatibleTopology, match="task=imdb cannot use topology=one_to_many.*valid: many_to_one"):
        run(make_config("task=imdb", "topology=one_to_many"), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "IncompatibleTopology" in metrics["error"]


def test_nan_loss_fails_the_run(make_config, tmp_path):
    cfg = make_config("task=bp", "trainer.learning_rate=1e37", "trainer.clipnorm=null", "cell=simple_rnn",
                      "model.units=64")
    with pytest.raises(NonFiniteLoss, match=r"loss became (nan|inf) in epoch \d+, batch \d+"):
        run(cfg, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("target,reached", [(0.0, True), (1.01, False)])
def test_the_time_a_validation_target_is_first_reached_is_recorded(make_config, tmp_path, monkeypatch, target, reached):
    from tasks import bp

    monkeypatch.setattr(bp.Task, "target", target)
    metrics = run(make_config("task=bp", "trainer.epochs=2", "trainer.patience=2"), tmp_path)
    first_epoch = next(csv.DictReader(open(tmp_path / "history.csv")))
    assert metrics["target"] == target
    assert metrics["seconds_to_target"] == (float(first_epoch["seconds"]) if reached else None)


@pytest.mark.parametrize("task", ["bp", "imdb"])
def test_same_seed_and_config_give_identical_metrics(make_config, tmp_path, task):
    for name in ("first", "second", "other"):
        (tmp_path / name).mkdir()
    xla = ["trainer.jit_compile=true"] if task == "imdb" else []  # as imdb trains by default
    cfg = make_config(f"task={task}", "trainer.epochs=2", "task.limit=100", *xla)
    first, second = run(cfg, tmp_path / "first"), run(cfg, tmp_path / "second")
    assert (first["test"], first["val"]) == (second["test"], second["val"])
    other = run(make_config(f"task={task}", "trainer.epochs=2", "task.limit=100", "seed=7", *xla), tmp_path / "other")
    assert other["test"] != first["test"]


def test_tensorboard_logs_are_written_when_asked(make_config, tmp_path):
    run(make_config("task=bp", "trainer.epochs=1", "logger=tensorboard"), tmp_path)
    assert list((tmp_path / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "tensorboard" / "validation").glob("events.out.tfevents.*"))
