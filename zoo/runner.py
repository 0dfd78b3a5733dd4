"""Build -> fit -> evaluate -> save: the same code for every task, cell and topology."""
from __future__ import annotations

import csv
import dataclasses
import functools
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from zoo import decoding, runs, topologies, tracking
from zoo.config import Optimizer, OptimizerConfig
from zoo.errors import NonFiniteLoss
from zoo.layers import SmoothedCrossentropy
from zoo.optimizers import LazyAdam
from zoo.resume import CHECKPOINT, checkpointed_epochs, read_record, sole_writer, write_record
from zoo.rules import Plan, checked
from zoo.task import step_accuracy

# bucketed datasets have no known length, so Keras learns an epoch's end by running out of batches
warnings.filterwarnings("ignore", message="Your input ran out of data")
log = logging.getLogger(__name__)
BEST_WEIGHTS = "best.weights.h5"  # the best validation epoch so far; the saved model gets these weights
COMPILING = 5  # a training step this many times slower than the median compiled (CompileTime)


class ElapsedTime(keras.callbacks.Callback):
    """Adds `seconds` (training time since fit began, validation included, continued across resumes) to every
    epoch's logs, so history.csv shows when a validation target was first reached."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = offset

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter() - self.offset

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = round(time.perf_counter() - self.start, 2)


class CompileTime(keras.callbacks.Callback):
    """Adds `compile_seconds` to every epoch's logs: the time its training steps spent compiling (tracing the step,
    and with XLA compiling it for each new batch shape). A step that took over COMPILING times the epoch's median
    step compiled; its excess over that median is counted (a compilation takes seconds, a step milliseconds)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = []

    def on_train_batch_begin(self, batch, logs=None):
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(time.perf_counter() - self.began)

    def on_epoch_end(self, epoch, logs=None):
        median = float(np.median(self.steps)) if self.steps else 0.0
        logs["compile_seconds"] = round(sum((t - median for t in self.steps if t > COMPILING * median), 0.0), 2)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that, in a resumed run, goes on counting from the epochs before the interruption."""

    def __init__(self, *args, previous: list[float], **kwargs):
        super().__init__(*args, **kwargs)
        self.previous_best_epoch = best_index(previous, self.mode) if previous else None
        self.previous_best = previous[self.previous_best_epoch] if previous else None
        self.previous_wait = len(previous) - 1 - self.previous_best_epoch if previous else 0
        # the same test as EarlyStopping.on_epoch_end, which stops no earlier than the second epoch
        self.stopped_before = len(previous) > 1 and self.previous_wait >= self.patience

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.previous_best is not None:
            self.best_epoch, self.best, self.wait = self.previous_best_epoch, self.previous_best, self.previous_wait


class ResumableSwapEMAWeights(keras.callbacks.SwapEMAWeights):
    """The weights' moving average in the model from each epoch's validation to the start of the next, so the
    callbacks after it (best weights, the backup) keep the average. A backup is written in that state, so a
    resumed run starts with the average in the model and the training weights in the optimizer."""

    def __init__(self, resumed: bool):
        super().__init__(swap_on_epoch=True)
        self._ema_weights_in_model = resumed


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore, except that a kill cannot tear the checkpoint: Keras overwrites its weights file in
    place and then the metadata, so a kill mid-write leaves no usable checkpoint, or weights one epoch ahead of
    their metadata. Here each epoch's weights go to a new file, the metadata naming them replaces the old in one
    rename, and only then is the previous epoch's file removed: any kill leaves the last complete epoch."""

    def _save_model(self):
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / f"epoch-{self._current_epoch}.weights.h5"
        self.model.save_weights(weights, overwrite=True)
        written = folder / "training_metadata.json.tmp"
        written.write_text(json.dumps({"epoch": self._current_epoch, "batch": 0, "weights": weights.name}))
        os.replace(written, self._training_metadata_path)
        for older in folder.glob("epoch-*.weights.h5"):
            if older != weights:
                older.unlink()

    def _load_model(self):
        metadata = Path(self._training_metadata_path)
        saved = json.loads(metadata.read_text()) if metadata.exists() else {}
        if "weights" not in saved:  # nothing saved yet, or a checkpoint Keras's own callback wrote
            return super()._load_model()
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(Path(self.backup_dir) / saved["weights"])
        self.model._initial_epoch = saved["epoch"]


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch to MLflow after the checkpoint of that epoch is written (so it comes after
    BackupAndRestore in the callback list)."""

    def __init__(self, tracker: tracking.Tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_epoch(epoch, logs or {})


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(f"loss became {float(loss)} in epoch {self.epoch + 1}, batch {batch + 1}; "
                                "try a lower trainer.learning_rate or a trainer.clipnorm", epoch=self.epoch + 1)


class StopAt(keras.callbacks.Callback):
    """Ends training once the monitored validation metric reaches `value` (below it for "min", above for "max")."""

    def __init__(self, monitor: str, value: float, goal: str, previous: list[float]):
        super().__init__()
        self.monitor, self.value, self.goal = monitor, value, goal
        self.stopped_before = bool(previous) and reaches(previous[-1], value, goal)

    def on_epoch_end(self, epoch, logs=None):
        if reaches(logs[self.monitor], self.value, self.goal):
            log.info(f"{self.monitor} {logs[self.monitor]:.4g} reached trainer.stop_at={self.value}: stopping")
            self.model.stop_training = True


class TimeBudget(keras.callbacks.Callback):
    """Ends training before an epoch that, if it took as long as the longest so far, would end past `seconds` of
    training. Reads the `seconds` that ElapsedTime logs, so it must come after it."""

    def __init__(self, seconds: float, previous: list[float]):
        super().__init__()
        self.seconds, self.elapsed = seconds, list(previous)  # training seconds at the end of each epoch so far
        self.stopped_before = self.spent()

    def spent(self) -> bool:
        longest = max(np.diff(self.elapsed, prepend=0.0), default=0.0)
        return bool(self.elapsed) and self.elapsed[-1] + longest > self.seconds

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed.append(logs["seconds"])
        if self.spent():
            log.info(f"{logs['seconds']:.0f} s of training: another epoch would end past "
                     f"trainer.max_seconds={self.seconds:g}, stopping")
            self.model.stop_training = True


def reaches(value: float, threshold: float, goal: str) -> bool:
    return value >= threshold if goal == "max" else value <= threshold


def best_index(values: list[float], goal: str) -> int:
    return int(np.argmax(values) if goal == "max" else np.argmin(values))


def read_history(path: Path) -> list[dict]:
    return [{k: float(v) for k, v in row.items()} for row in history_rows(path)]


def history_rows(path: Path) -> list[dict]:
    """history.csv's rows as written."""
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def keep_history(path: Path, epochs: int) -> None:
    """Keep history.csv's first `epochs` rows as written, in CSVLogger's column order (epoch, then the rest sorted),
    which appends rows to it; histories written before `compile_seconds` get it as 0.0."""
    rows = [{"compile_seconds": "0.0", **row} for row in history_rows(path)[:epochs]]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", *sorted(set(rows[0]) - {"epoch"})])
        writer.writeheader()
        writer.writerows(rows)


def task_loss(task, trainer):
    """The task's loss, or with `trainer.label_smoothing` the smoothed cross-entropy (zoo.rules allows it only
    where the task predicts classes or tokens)."""
    return SmoothedCrossentropy(trainer.label_smoothing) if trainer.label_smoothing else task.loss()


def compile_model(model: keras.Model, loss, metrics: list, trainer, optimizer: OptimizerConfig) -> None:
    """Compile with the `optimizer` settings (Keras's Adam decays weights decoupled, as AdamW, when weight_decay
    is set) and the trainer's learning rate, clipping and weight averaging."""
    adam = LazyAdam if optimizer.name == Optimizer.lazy_adam else keras.optimizers.Adam
    optimizer = adam(trainer.learning_rate, clipnorm=trainer.clipnorm, weight_decay=optimizer.weight_decay or None,
                     use_ema=trainer.ema_momentum is not None, ema_momentum=trainer.ema_momentum or 0.99)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=trainer.jit_compile)
    if trainer.jit_compile:  # XLA for the training step only: evaluation and answers come in shapes without bound
        model.make_train_function()
        model.jit_compile = False


def run(cfg: DictConfig, run_dir: Path, plan: Plan | None = None, job: tracking.Job = tracking.Job()) -> dict:
    """Train and evaluate one configuration; metrics.json is written whether it succeeds or fails (and with
    logger=mlflow, the MLflow run is closed either way). `plan` is the config as `zoo.rules.checked` passed it,
    where the caller checked it already; `job` places a sweep's job.

    A folder that already holds a finished run is not retrained; one that holds the checkpoint of an interrupted
    run continues from it (weights, optimizer state, history, elapsed seconds, early-stopping count)."""
    with sole_writer(run_dir):
        return run_alone(cfg, run_dir, plan, job)


def run_alone(cfg: DictConfig, run_dir: Path, plan: Plan | None, job: tracking.Job) -> dict:
    finished = read_record(run_dir)
    if finished.get("status") == "ok":
        log.info(f"already finished, not retrained: {run_dir}")
        return finished
    record = {
        "task": cfg.task.name,
        "cell": cfg.cell.name,
        "topology": cfg.topology_name,
        "seed": cfg.seed,
        "model": OmegaConf.to_container(cfg.model, enum_to_str=True),
        "trainer": OmegaConf.to_container(cfg.trainer),
        "optimizer": OmegaConf.to_container(cfg.optimizer, enum_to_str=True),
        "status": "running",
    }
    write_record(run_dir, record)  # a run killed before it ends stays "running"
    tracker = None
    try:
        tracker = tracking.Tracker(cfg, run_dir, job) if cfg.logger.mlflow is not None else None
        record.update(train_and_evaluate(cfg, run_dir, plan or checked(cfg), tracker))
        record["status"] = "ok"
        return record
    except Exception as error:
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        if isinstance(error, NonFiniteLoss):
            record["failed_epoch"] = error.epoch
        raise
    finally:
        write_record(run_dir, record)
        if tracker is not None:
            tracker.finish(record)


def load_splits(task, trainer) -> tuple:
    """The task's spec and splits, each split cut to trainer.limit_batches batches where that is set."""
    spec, splits = task.load(trainer.batch_size)
    return spec, dataclasses.replace(splits, **{name: getattr(splits, name).take(trainer.limit_batches or -1)
                                                for name in ("train", "val", "test")})


def train_and_evaluate(cfg: DictConfig, run_dir: Path, plan: Plan, tracker: tracking.Tracker | None = None) -> dict:
    task, trainer = plan.task, plan.trainer
    keras.backend.clear_session()  # sweep jobs share one process: start each from a clean Keras state
    keras.utils.set_random_seed(cfg.seed)
    spec, splits = load_splits(task, trainer)
    train, val = (decoding.model_data(plan.topology, split, spec) for split in (splits.train, splits.val))

    if trainer.jit_compile and task.xla_unfit:
        log.warning(f"training without XLA (trainer.jit_compile=true): {task.xla_unfit}")
        trainer = dataclasses.replace(trainer, jit_compile=False)
    model = topologies.build(plan.topology, spec, plan.cell, plan.model)
    compile_model(model, task_loss(task, trainer), task.metrics(), trainer, plan.optimizer)
    monitor, goal = f"val_{task.primary_metric}", task.primary_goal
    history_csv, best_weights = run_dir / "history.csv", run_dir / BEST_WEIGHTS
    previous = read_history(history_csv)[:checkpointed_epochs(run_dir)]
    if previous:  # a kill between writing history.csv and the checkpoint leaves an epoch that will run again
        keep_history(history_csv, len(previous))
        log.info(f"resuming {run_dir} after epoch {len(previous)}")
    monitored = [row[monitor] for row in previous]
    early_stopping = ResumableEarlyStopping(monitor, mode=goal, patience=trainer.patience, previous=monitored)
    stopping_rules = [
        early_stopping,
        *([StopAt(monitor, trainer.stop_at, goal, previous=monitored)] if trainer.stop_at is not None else []),
        *([TimeBudget(trainer.max_seconds, [row["seconds"] for row in previous])]
          if trainer.max_seconds is not None else []),
    ]
    callbacks = [
        ElapsedTime(offset=previous[-1]["seconds"] if previous else 0.0),  # first: the others read its `seconds`
        CompileTime(),
        *([ResumableSwapEMAWeights(resumed=bool(previous))] if trainer.ema_momentum is not None else []),
        *stopping_rules,
        keras.callbacks.ModelCheckpoint(best_weights, monitor, mode=goal, save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=early_stopping.previous_best),
        *([keras.callbacks.LearningRateScheduler(lambda epoch: trainer.learning_rate * trainer.lr_decay ** epoch)]
          if trainer.lr_decay != 1 else []),  # also before CSVLogger: it logs the epoch's learning_rate
        keras.callbacks.CSVLogger(str(history_csv), append=bool(previous)),
        FailOnNonFiniteLoss(),
        *task.callbacks(run_dir),
        *([keras.callbacks.TensorBoard(str(run_dir / "tensorboard"))] if cfg.logger.tensorboard else []),
        AtomicBackupAndRestore(str(run_dir / CHECKPOINT)),  # an epoch is saved once fully logged
        *([EpochLogger(tracker)] if tracker is not None else []),  # after the save: logged once
    ]
    # a run killed after its last epoch was saved but before fit returned has nothing left to train
    epochs = len(previous) if any(rule.stopped_before for rule in stopping_rules) else trainer.epochs
    model.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=trainer.verbose)
    if best_weights.exists():
        model.load_weights(best_weights)
        best_weights.unlink()  # model.keras holds them from here on
    rows = read_history(history_csv)
    history = {key: [row[key] for row in rows] for key in rows[0]}
    train_seconds = history["seconds"][-1]

    test_metrics = evaluate_test(model, spec, plan.topology, task, splits, run_dir)
    model.save(run_dir / runs.MODEL)
    runs.save(run_dir, cfg, task, spec)
    runs.write_predictions(runs.TrainedRun(run_dir, cfg, task, spec, model))

    best = best_index(history[monitor], goal)
    reached = [seconds for seconds, value in zip(history["seconds"], history[monitor])
               if task.target is not None and reaches(value, task.target, goal)]
    epochs_run = len(rows)
    examples_per_epoch = min(splits.sizes["train"], (trainer.limit_batches or math.inf) * trainer.batch_size)
    return {
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "examples": splits.sizes,
        "epochs_run": epochs_run,
        "best_epoch": best + 1,
        "train_seconds": round(train_seconds, 2),
        "compile_seconds": round(sum(history.get("compile_seconds", [])), 2),  # within train_seconds
        "examples_per_second": round(epochs_run * examples_per_epoch / train_seconds, 1),
        "primary_metric": task.primary_metric,
        "primary_goal": goal,
        "test": test_metrics,
        "val": {k.removeprefix("val_"): float(v[best]) for k, v in history.items() if k.startswith("val_")},
        "target": task.target,
        "seconds_to_target": reached[0] if reached else None,  # when validation first reached the target
        **task.extras(),
    }


def evaluate_test(model: keras.Model, spec, topology: str, task, splits, out_dir: Path) -> dict:
    """The test metrics of a compiled model: the compiled ones, then the task's own over decoded predictions
    (its samples are written to out_dir). `python -m zoo.evaluate` scores a saved run through this too."""
    test = decoding.model_data(topology, splits.test, spec)
    metrics = model.evaluate(test, return_dict=True, verbose=0)
    if spec.outputs in decoding.STEP_OUTPUTS:  # the accuracy is a count over real steps, never padding
        steps = decoding.step_predictions(model, spec, topology, splits.test)
        metrics["accuracy"] = step_accuracy(steps)
        metrics.update(task.step_metrics(steps, out_dir))
    predict = functools.partial(decoding.predict, model, spec, topology)
    metrics.update(task.test_metrics(predict, splits, out_dir))
    return {name: value if isinstance(value, (dict, list)) else float(value) for name, value in metrics.items()}


def train_new(overrides: list[str]) -> dict:
    """`python -m zoo <overrides>` from Python: the same composed config and run folder layout, no Hydra app."""
    from zoo.config import compose_config

    cfg = compose_config(overrides, return_hydra_config=True)
    run_dir = Path(cfg.hydra.run.dir)
    (run_dir / ".hydra").mkdir(parents=True)
    with open_dict(cfg):
        del cfg["hydra"]
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")  # as Hydra leaves it: compare and resume read these
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    return {**run(cfg, run_dir), "run": str(run_dir)}
