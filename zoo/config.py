"""Structured configs: the schema Hydra validates every composed config against."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

import tasks
from zoo.errors import ZooError
from zoo.validation import require_positive

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class Pooling(Enum):
    last = "the last step's hidden state (both directions' last steps when bidirectional)"
    max = "the largest value of each unit over the real steps"
    mean = "each unit's mean over the real steps"
    attention = "a learned weighted sum of the steps' hidden states (weights softmax over the real steps)"


class Attention(Enum):
    none = "the decoder sees the source only through the encoder's final state"
    luong = "multiplicative (dot-product) scores, keras.layers.Attention"
    bahdanau = "additive scores, keras.layers.AdditiveAttention"


@dataclass
class ModelConfig:
    """Types and checks; the values are in conf/model/default.yaml."""

    units: int = MISSING
    layers: int = MISSING
    bidirectional: bool = MISSING
    dropout: float = MISSING
    word_dropout: float = MISSING
    bigram_buckets: int = MISSING
    bigram_dropout: float = MISSING
    embedding_dim: int = MISSING
    char_units: int = MISSING
    attention: Attention = MISSING
    pooling: Pooling = MISSING
    unroll: bool = MISSING

    def __post_init__(self):
        require_positive("model", self, "units", "layers", "embedding_dim", "char_units")
        if self.bigram_buckets < 0 or self.bigram_buckets in (1, 2):
            raise ZooError(f"model.bigram_buckets must be 0 (off) or >= 3 (one is padding, one the unknown pair), "
                           f"got {self.bigram_buckets}")
        if self.bigram_dropout and not self.bigram_buckets:
            raise ZooError("model.bigram_dropout drops word pairs, which need model.bigram_buckets > 0")
        for name in ("dropout", "word_dropout", "bigram_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ZooError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass
class TrainerConfig:
    """Types and checks; the values are in conf/trainer/default.yaml."""

    epochs: int = MISSING
    batch_size: int = MISSING
    learning_rate: float = MISSING
    lr_decay: float = MISSING
    clipnorm: Optional[float] = MISSING
    ema_momentum: Optional[float] = MISSING
    patience: int = MISSING
    stop_at: Optional[float] = MISSING
    max_seconds: Optional[float] = MISSING
    label_smoothing: float = MISSING
    limit_batches: Optional[int] = MISSING
    jit_compile: bool = MISSING
    verbose: int = MISSING
    resume: str = MISSING  # auto | new | a run folder

    def __post_init__(self):
        require_positive("trainer", self, "epochs", "batch_size", "learning_rate", "clipnorm", "max_seconds",
                         "limit_batches")
        if not 0 < self.lr_decay <= 1:
            raise ZooError(f"trainer.lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.ema_momentum is not None and not 0 < self.ema_momentum < 1:
            raise ZooError(f"trainer.ema_momentum must be in (0, 1) or null (off), got {self.ema_momentum}")
        if not 0 <= self.label_smoothing < 1:
            raise ZooError(f"trainer.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.patience < 0:
            raise ZooError(f"trainer.patience must be >= 0, got {self.patience}")


class Optimizer(Enum):
    adam = "Adam"
    adamw = "Adam with decoupled weight decay"
    lazy_adam = "Adam that updates only the embedding rows a batch read (zoo.optimizers.LazyAdam)"


@dataclass
class OptimizerConfig:
    """Types and checks; the values are in conf/optimizer/<name>.yaml."""

    name: Optimizer = MISSING
    weight_decay: float = MISSING

    def __post_init__(self):
        if self.weight_decay < 0:
            raise ZooError(f"optimizer.weight_decay must be >= 0, got {self.weight_decay}")


@dataclass
class MlflowConfig:
    tracking_uri: str = "sqlite:///outputs/mlflow.db"  # relative to the working folder; or a server's http(s)://
    experiment: Optional[str] = None  # null: "runs" for a single run, the sweep folder's name for a sweep's jobs


@dataclass
class LoggerConfig:
    """Where runs are tracked besides their run folders (conf/logger/): none, mlflow, tensorboard, or many."""

    mlflow: Optional[MlflowConfig] = None
    tensorboard: bool = False  # TensorBoard logs in <run folder>/tensorboard/


@dataclass
class PathsConfig:
    data_dir: str = MISSING


@dataclass
class CellConfig:
    name: str = MISSING


@dataclass
class TopologyConfig:
    name: str = MISSING


@dataclass
class Config:
    cell: CellConfig = MISSING
    topology: Optional[TopologyConfig] = None  # null: the task's natural topology
    task: Any = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = MISSING
    seed: int = 42
    topology_name: str = "${oc.select:topology.name,${task.topology}}"


def renamed(overrides: list[str]) -> list[str]:
    """`overrides` with renamed tasks (and their presets, e.g. experiment=frames_regularized) under their names
    now; each rename is noted on stderr."""
    out = []
    for override in overrides:
        key, _, values = override.partition("=")
        if key in ("task", "experiment", "+experiment"):
            names = values.split(",")
            for i, name in enumerate(names):
                old = next((o for o in tasks.RENAMED if name == o or name.startswith(f"{o}_")), None)
                if old is not None:
                    names[i] = tasks.RENAMED[old] + name[len(old):]
                    print(f"note: {key}={name} is now {key}={names[i]}", file=sys.stderr)
            override = f"{key}={','.join(names)}"
        out.append(override)
    return out


def compose_config(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """The config that `python -m zoo <overrides>` would run, for commands that are not Hydra apps."""
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=renamed(list(overrides)), return_hydra_config=return_hydra_config)


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for name in tasks.names():
        cs.store(group="schema/task", name=name, node=tasks.module(name).Config)
    try:  # the sweep extra's submitit settings, which conf/hydra/launcher/slurm.yaml extends
        from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    except ImportError:
        return
    cs.store(group="hydra/launcher", name="submitit_slurm_settings", node=SlurmQueueConf)
