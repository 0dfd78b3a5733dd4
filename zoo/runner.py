"""Build -> fit -> evaluate -> save: the same code for every task, cell and topology."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
import warnings
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

import tasks
from zoo import topologies
from zoo.errors import NonFiniteLoss

# bucketed datasets have no known length, so Keras learns an epoch's end by running out of batches
warnings.filterwarnings("ignore", message="Your input ran out of data")


class ElapsedTime(keras.callbacks.Callback):
    """Adds `seconds` (training time since fit began, validation included) to every epoch's logs, so
    history.csv shows when a validation target was first reached."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = round(time.perf_counter() - self.start, 2)


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(f"loss became {float(loss)} in epoch {self.epoch + 1}, batch {batch + 1}; "
                                "try a lower trainer.learning_rate or a trainer.clipnorm")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, default=float) + "\n")


def compile_model(model: keras.Model, loss, metrics: list, trainer) -> None:
    model.compile(optimizer=keras.optimizers.Adam(trainer.learning_rate, clipnorm=trainer.clipnorm), loss=loss,
                  metrics=metrics, jit_compile=trainer.jit_compile)


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and evaluate one configuration; metrics.json is written whether it succeeds or fails."""
    record = {
        "task": cfg.task.name,
        "cell": cfg.cell.name,
        "topology": cfg.topology_name,
        "seed": cfg.seed,
        "model": OmegaConf.to_container(cfg.model, enum_to_str=True),
        "trainer": OmegaConf.to_container(cfg.trainer),
        "status": "running",
    }
    try:
        record.update(train_and_evaluate(cfg, run_dir))
        record["status"] = "ok"
        return record
    except Exception as error:
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        write_json(run_dir / "metrics.json", record)


def train_and_evaluate(cfg: DictConfig, run_dir: Path) -> dict:
    model_cfg = OmegaConf.to_object(cfg.model)
    trainer = OmegaConf.to_object(cfg.trainer)
    task = tasks.module(cfg.task.name).Task(OmegaConf.to_object(cfg.task), Path(cfg.paths.data_dir), cfg.seed)
    topologies.check(cfg.topology_name, cfg.task.name, task.inputs, task.outputs)

    keras.backend.clear_session()  # sweep jobs share one process: start each from a clean Keras state
    keras.utils.set_random_seed(cfg.seed)
    spec, splits = task.load(trainer.batch_size)
    splits = dataclasses.replace(splits, **{name: getattr(splits, name).take(trainer.limit_batches or -1)
                                            for name in ("train", "val", "test")})
    train, val, test = splits.train, splits.val, splits.test
    if cfg.topology_name in topologies.GENERATIVE:
        train, val, test = (topologies.teacher_forcing(split, spec) for split in (train, val, test))

    model = topologies.build(cfg.topology_name, spec, cfg.cell.name, model_cfg)
    compile_model(model, task.loss(), task.metrics(), trainer)
    monitor = f"val_{task.primary_metric}"
    callbacks = [
        keras.callbacks.EarlyStopping(monitor, mode=task.primary_goal, patience=trainer.patience,
                                      restore_best_weights=True),
        ElapsedTime(),  # before CSVLogger, which writes the logs it adds
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
        FailOnNonFiniteLoss(),
        *task.callbacks(run_dir),
    ]
    start = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=trainer.epochs, callbacks=callbacks, shuffle=False,
                        verbose=trainer.verbose).history
    train_seconds = time.perf_counter() - start

    test_metrics = model.evaluate(test, return_dict=True, verbose=0)
    predict = functools.partial(topologies.predict, model, spec, cfg.topology_name)
    test_metrics.update(task.test_metrics(predict, splits, run_dir))
    model.save(run_dir / "model.keras")

    pick, better = (np.argmax, np.greater_equal) if task.primary_goal == "max" else (np.argmin, np.less_equal)
    best = int(pick(history[monitor]))
    reached = [seconds for seconds, value in zip(history["seconds"], history[monitor])
               if task.target is not None and better(value, task.target)]
    epochs_run = len(history["loss"])
    examples_per_epoch = min(splits.sizes["train"], (trainer.limit_batches or math.inf) * trainer.batch_size)
    return {
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "examples": splits.sizes,
        "epochs_run": epochs_run,
        "best_epoch": best + 1,
        "train_seconds": round(train_seconds, 2),
        "examples_per_second": round(epochs_run * examples_per_epoch / train_seconds, 1),
        "primary_metric": task.primary_metric,
        "primary_goal": task.primary_goal,
        "test": {k: float(v) for k, v in test_metrics.items()},
        "val": {k.removeprefix("val_"): float(v[best]) for k, v in history.items() if k.startswith("val_")},
        "target": task.target,
        "seconds_to_target": reached[0] if reached else None,  # when validation first reached the target
        **task.extras(),
    }
