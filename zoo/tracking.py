"""Every run in MLflow (`logger=mlflow`): its config as parameters, tags, per-epoch metrics, test metrics, the run
folder's files as artifacts and its status.

The store is a local SQLite database by default (`logger.mlflow.tracking_uri`, e.g. a remote MLflow server's
address instead); nothing else is contacted. A single run goes to the experiment `runs`, a sweep's jobs to one
experiment named by the sweep's folder, one MLflow run per job (tags `sweep`, `job`). The MLflow run's id is
kept in the run folder (`mlflow_run.json`), so a resumed run continues its own MLflow run, and an epoch is logged
once its checkpoint is written: a run killed and resumed logs each epoch once.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from zoo.errors import ZooError

RUN_ID_FILE = "mlflow_run.json"
ARTIFACTS = ("metrics.json", "history.csv", "predictions.jsonl", "test_predictions.csv", "samples.json", "samples.txt",
             "per_tag.json")


@dataclass(frozen=True)
class Job:
    """Where a run sits: the sweep folder and job number of a multirun job (None for a single run)."""

    sweep: Optional[str] = None
    number: Optional[int] = None


def flattened(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as the command line writes them: {"model.units": "64", ...}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def scalars(metrics: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested metrics dict, keys joined by dots (lists and text left out)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(scalars(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


def sqlite_database(tracking_uri: str) -> Path | None:
    """The database file of a SQLite store's URI; None for a server."""
    return Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def store_lock(tracking_uri: str):
    """For a SQLite store, an exclusive lock beside the database while a job opens it: sweep jobs started at once
    (joblib, Ray) would otherwise race to create its tables. A server needs none."""
    database = sqlite_database(tracking_uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a SQLite store, as an absolute path (MLflow's default,
    ./mlruns, is relative to the working folder of whichever process creates the experiment: the project's root,
    or on a cluster a worker node's own folder); a server's own choice otherwise."""
    database = sqlite_database(tracking_uri)
    return None if database is None else (database.resolve().parent / "mlartifacts").as_uri()


class Tracker:
    """One run's MLflow run, through MlflowClient (no global active run: sweep jobs in one process stay apart)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, job: Job):
        os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        from mlflow.tracking import MlflowClient

        settings = cfg.logger.mlflow
        self.run_dir = run_dir
        saved = run_dir / RUN_ID_FILE
        with store_lock(settings.tracking_uri):  # the first job to open a new SQLite store creates its tables
            self.client = MlflowClient(tracking_uri=settings.tracking_uri)
            self.open(cfg, job, saved)
        logged = self.client.get_metric_history(self.run_id, "seconds")
        self.logged_epochs = {m.step for m in logged}

    def open(self, cfg: DictConfig, job: Job, saved: Path) -> None:
        """The run's MLflow run: the one its folder names (resumed), or a new one in its experiment."""
        settings = cfg.logger.mlflow
        if saved.exists():  # a resumed run continues its own MLflow run
            self.run_id = json.loads(saved.read_text())["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            name = settings.experiment or (Path(job.sweep).name if job.sweep else "runs")
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(
                name, artifact_location=artifact_location(settings.tracking_uri))
            tags = {"task": cfg.task.name, "cell": cfg.cell.name, "topology": cfg.topology_name,
                    "seed": str(cfg.seed), "run_folder": str(self.run_dir.resolve())}
            if job.sweep is not None:
                tags |= {"sweep": str(job.sweep), "job": str(job.number)}
            run_name = f"{cfg.cell.name}-{cfg.topology_name}" + (f"-{job.number}" if job.number is not None else "")
            self.run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
            self.log_params(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
            saved.write_text(json.dumps({"run_id": self.run_id, "tracking_uri": settings.tracking_uri}) + "\n")

    def log_params(self, config: dict) -> None:
        from mlflow.entities import Param

        params = [Param(key, value[:6000]) for key, value in flattened(config).items()]
        for start in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def log_epoch(self, epoch: int, logs: dict) -> None:
        """One epoch's train and validation metrics and seconds, at step `epoch` (0 = the first, as history.csv
        counts), once."""
        from mlflow.entities import Metric

        if epoch in self.logged_epochs:
            return
        metrics = [Metric(key, float(value), 0, epoch) for key, value in logs.items()
                   if isinstance(value, (int, float)) and math.isfinite(float(value))]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.logged_epochs.add(epoch)

    def finish(self, record: dict) -> None:
        """The test metrics and the run folder's files; FINISHED, or FAILED with its error (and NaN epoch)."""
        from mlflow.entities import Metric

        failed = record.get("status") != "ok"
        metrics = [Metric(f"test.{key}", value, 0, 0) for key, value in scalars(record.get("test", {})).items()]
        metrics += [Metric(key, float(record[key]), 0, 0) for key in ("train_seconds", "epochs_run", "best_epoch",
                                                                     "baseline_accuracy") if key in record]
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[start:start + 1000])
        if failed:
            self.client.set_tag(self.run_id, "error", record.get("error", "")[:5000])
            if "failed_epoch" in record:
                self.client.set_tag(self.run_id, "failed_epoch", str(record["failed_epoch"]))
        for name in ARTIFACTS:
            if (self.run_dir / name).exists():
                self.client.log_artifact(self.run_id, str(self.run_dir / name))
        for image in sorted(self.run_dir.glob("*.png")):
            self.client.log_artifact(self.run_id, str(image))
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def records(tracking_uri: str, experiment: Optional[str] = None) -> list[dict]:
    """The metrics.json of every run in the store (or in one experiment), as the run logged it, with its run
    folder: what `zoo.compare --mlflow` tabulates."""
    import tempfile

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ZooError(f"{tracking_uri} has no experiment {experiment!r}")
        experiments = [found]
    else:
        experiments = client.search_experiments()
    out = []
    for mlflow_run in client.search_runs([e.experiment_id for e in experiments], max_results=50000):
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = client.download_artifacts(mlflow_run.info.run_id, "metrics.json", folder)
            except Exception:  # MLflow raises its own and OSError kinds for a run that logged no metrics.json
                continue
            record = json.loads(Path(path).read_text())
        out.append({**record, "run": mlflow_run.data.tags.get("run_folder", mlflow_run.info.run_id)})
    return out
