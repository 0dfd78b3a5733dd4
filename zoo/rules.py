"""Which settings go together: every rule that spans config groups (task x topology x cell x model x trainer),
in one place, answered before TensorFlow loads. `checked(cfg)` checks a composed config once and hands the
runner what it checked, as a `Plan`."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

import tasks
from zoo.cells import NO_MEMORY, get
from zoo.config import Attention, ModelConfig, OptimizerConfig, Pooling, TrainerConfig
from zoo.errors import IncompatibleTopology, ZooError

# topology -> (input kinds, output kinds) it can model
SUPPORTED = {
    "one_to_one": ({"features"}, {"class"}),
    "many_to_one": ({"features", "tokens", "series", "video"}, {"class", "value", "values"}),
    "synced": ({"tokens", "video", "series"}, {"tags", "next", "values"}),
    "seq2seq": ({"tokens", "image", "series"}, {"tokens", "tags", "values"}),
    "one_to_many": ({"features", "image"}, {"tokens"}),
}
GENERATIVE = {"seq2seq", "one_to_many"}  # a decoder trained by teacher forcing, that decodes step by step
MEMORYLESS = {"synced", "many_to_one"}  # where cell=none has a model: a Dense layer per step, no encoder state


@dataclass(frozen=True)
class Plan:
    """A composed config as checked: the task (its settings checked against its Config), the cell and
    topology names, and the model, trainer and optimizer settings (checked against their dataclasses)."""

    task: Any
    cell: str
    topology: str
    model: ModelConfig
    trainer: TrainerConfig
    optimizer: OptimizerConfig


def supported_topologies(inputs: str, outputs: str) -> list[str]:
    return [name for name, (ins, outs) in SUPPORTED.items() if inputs in ins and outputs in outs]


def check_combination(topology: str, task_name: str, inputs: str, outputs: str) -> None:
    valid = supported_topologies(inputs, outputs)
    if topology not in valid:
        raise IncompatibleTopology(
            f"task={task_name} cannot use topology={topology} ({inputs} in, {outputs} out); "
            f"valid: {', '.join(valid)}"
        )


def checked(cfg: DictConfig) -> Plan:
    """Every setting of a composed config and every rule between them; the first broken one as a ZooError."""
    model, trainer, optimizer = (OmegaConf.to_object(cfg[group]) for group in ("model", "trainer", "optimizer"))
    task, topology, cell, name = tasks.create(cfg), cfg.topology_name, cfg.cell.name, cfg.task.name
    check_combination(topology, name, task.inputs, task.outputs)
    if cell == NO_MEMORY:
        if topology not in MEMORYLESS or model.bidirectional:
            raise ZooError(f"cell=none (no recurrence: a Dense layer per step) is for topology=synced or many_to_one, "
                           f"one direction; not topology={topology}"
                           + (" with model.bidirectional=true" if model.bidirectional else ""))
    else:
        get(cell)
    if trainer.label_smoothing and task.outputs in ("value", "values"):
        raise ZooError(f"trainer.label_smoothing is for tasks that predict classes or tokens; task={name} "
                       "here predicts a value")
    if model.bigram_buckets and task.inputs != "tokens":
        raise ZooError(f"model.bigram_buckets is for tasks that read words; task={name} reads {task.inputs}")
    if model.word_dropout and task.unknown_id is None:
        raise ZooError(f"model.word_dropout needs a task whose words have an unknown-word id; task={name} has none")
    if model.pooling != Pooling.last and topology != "many_to_one":
        raise ZooError(f"model.pooling={model.pooling.name} is for topology=many_to_one (it pools the steps' states "
                       f"into one answer), not topology={topology}")
    if model.attention != Attention.none and topology != "seq2seq":
        raise ZooError(f"model.attention={model.attention.name} needs an encoder sequence to attend to, "
                       f"which only topology=seq2seq has (this run: topology={topology})")
    if cfg.logger.mlflow is not None and importlib.util.find_spec("mlflow") is None:
        raise ZooError('logger=mlflow needs MLflow, which is not installed: pip install -e ".[tracking]"')
    return Plan(task=task, cell=cell, topology=topology, model=model, trainer=trainer, optimizer=optimizer)
