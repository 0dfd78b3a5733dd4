"""Diagnostics that make the RNN lessons visible.

    python -m zoo.diagnose params [--inputs 4] [--units 3]
    python -m zoo.diagnose gradient-flow [--cells simple_rnn,lstm,gru] [--out DIR] task=memory task.length=100 ...
    python -m zoo.diagnose long-dependency SWEEP_DIR

`params` prints, for each cell, the parameter count from the textbook formula beside Keras's `count_params()`
of the built layer, and exits non-zero if any differ.

`gradient-flow` trains each cell on the configured task (a normal run folder each, under DIR), then computes
the norm of the loss's gradient with respect to every hidden state h_t, for the same test batch, untrained
and trained; it writes gradient_flow.json and gradient_flow.png (one line per cell) to DIR.

`long-dependency` reads a sweep over a distance (memory's `task.length`, e.g. `experiment=long_dependency`;
video's `task.gap`; forecast's `task.window`, `experiment=forecast_window`) and writes long_dependency.md (test
metric per cell and distance, with the task's baseline) and long_dependency.png (metric against the distance,
one line per cell) into the sweep folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

import keras
import matplotlib
import tensorflow as tf
from omegaconf import OmegaConf

import tasks
from zoo import introspect, topologies
from zoo.cells import CELLS
from zoo.compare import load_runs
from zoo.config import compose_config
from zoo.errors import ZooError
from zoo.runner import run

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

ROOT = Path(__file__).resolve().parents[1]

def parameter_table(inputs: int, units: int) -> list[dict]:
    rows = []
    for cell in CELLS.values():
        layer = cell.layer(units)
        layer.build((None, None, inputs))
        rows.append({"cell": cell.name, "formula": cell.formula, "formula_count": cell.count(inputs, units),
                     "keras_count": layer.count_params()})
    return rows


def params_command(args) -> int:
    rows = parameter_table(args.inputs, args.units)
    print(f"inputs={args.inputs} units={args.units}")
    print(f"{'cell':<11} {'formula':<44} {'formula':>8} {'keras':>8}")
    for row in rows:
        mark = "" if row["formula_count"] == row["keras_count"] else "  MISMATCH"
        print(f"{row['cell']:<11} {row['formula']:<44} {row['formula_count']:>8} {row['keras_count']:>8}{mark}")
    return 0 if all(r["formula_count"] == r["keras_count"] for r in rows) else 1


def hidden_gradient_norms(model, loss_fn, inputs, targets) -> list[float]:
    """‖∂L/∂h_t‖ (mean over the batch) for every step t of the model's first recurrent layer, which is stepped
    by hand with its own cell so that each h_t is a tensor the gradient can be taken against."""
    with tf.GradientTape() as tape:
        hidden = [output for _, _, output, _ in introspect.first_layer_steps(model, inputs)]
        loss = loss_fn(targets, model.get_layer("logits")(hidden[-1]))
    return [float(tf.reduce_mean(tf.norm(g, axis=-1))) for g in tape.gradient(loss, hidden)]


def gradient_flow_command(args, overrides: list[str]) -> int:
    out = Path(args.out or ROOT / "outputs" / "diagnose" / time.strftime("gradient-flow_%Y-%m-%d_%H-%M-%S"))
    result = {"overrides": overrides, "steps": None, "cells": {}}
    for cell in args.cells.split(","):
        cfg = compose_config([*overrides, f"cell={cell}"])
        if cfg.model.layers != 1 or cfg.model.bidirectional or cfg.topology_name != "many_to_one":
            raise ZooError("gradient-flow steps one unidirectional recurrent layer of a many_to_one model "
                           "(model.layers=1, model.bidirectional=false)")
        run_dir = out / cell
        run_dir.mkdir(parents=True, exist_ok=True)
        task = tasks.create(cfg)
        spec, splits = task.load(cfg.trainer.batch_size)
        inputs, targets = next(iter(splits.test))
        keras.utils.set_random_seed(cfg.seed)
        untrained = topologies.build(cfg.topology_name, spec, cell, OmegaConf.to_object(cfg.model))
        before = hidden_gradient_norms(untrained, task.loss(), inputs, targets)
        metrics = run(cfg, run_dir)
        trained = keras.models.load_model(run_dir / "model.keras")
        after = hidden_gradient_norms(trained, task.loss(), inputs, targets)
        result["steps"] = len(before)
        result["cells"][cell] = {"untrained": before, "trained": after, "test": metrics["test"]}
    (out / "gradient_flow.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_gradient_flow(result, out / "gradient_flow.png")
    print(f"gradient flow: {out / 'gradient_flow.png'}")
    for cell, numbers in result["cells"].items():
        print(f"{cell:<11} ‖∂L/∂h_1‖ untrained {numbers['untrained'][0]:.3g}, trained {numbers['trained'][0]:.3g}; "
              f"‖∂L/∂h_T‖ trained {numbers['trained'][-1]:.3g}")
    return 0


def plot_gradient_flow(result: dict, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, stage in zip(axes, ("untrained", "trained")):
        for cell, numbers in result["cells"].items():
            ax.semilogy(range(1, len(numbers[stage]) + 1), numbers[stage], label=cell)
        ax.set_title(f"{stage} model")
        ax.set_xlabel("step t")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂h_t‖ (mean over a test batch)")
    axes[1].legend()
    figure.suptitle(textwrap.fill(" ".join(result["overrides"]) or "defaults", 110), fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def long_dependency_table(sweep_dir: Path) -> dict:
    """The test metric's name, the baseline per distance T (memory's task.length, video's task.gap, forecast's
    task.window), what both are, and {cell: {T: test metric}}, from the sweep's finished runs."""
    results, baselines, metric = {}, {}, None
    labels = {"distance": "T (steps between the information and the answer)", "baseline": "memoryless baseline"}
    for record in load_runs([sweep_dir]):
        if record.get("status") != "ok" or f"baseline_{record['primary_metric']}" not in record:
            continue
        # runs saved before metrics.json had a distance are memory runs: T is their task.length
        distance = record.get("distance") or OmegaConf.load(Path(record["run"]) / ".hydra" / "config.yaml").task.length
        metric = record["primary_metric"]
        results.setdefault(record["cell"], {})[distance] = record["test"][metric]
        baselines[distance] = record[f"baseline_{metric}"]
        labels = {name: record.get(f"{name}_label", label) for name, label in labels.items()}
    if not results:
        raise ZooError(f"no finished task=memory, video or forecast runs below {sweep_dir}")
    return {"metric": metric, "baseline": baselines, "cells": results, "labels": labels}


def long_dependency_command(args) -> int:
    table = long_dependency_table(args.sweep)
    lengths, metric, labels = sorted(table["baseline"]), table["metric"], table["labels"]
    lines = [f"| cell | {' | '.join(f'T={t}' for t in lengths)} |", "|---" * (len(lengths) + 1) + "|"]
    for cell, by_length in sorted(table["cells"].items()):
        values = [f"{by_length[t]:.4g}" if t in by_length else "" for t in lengths]
        lines.append(f"| {cell} | " + " | ".join(values) + " |")
    lines.append(f"| {labels['baseline']} | " + " | ".join(f"{table['baseline'][t]:.4g}" for t in lengths) + " |")
    text = f"test {metric} against the distance T: {labels['distance']}\n\n" + "\n".join(lines) + "\n"
    (args.sweep / "long_dependency.md").write_text(text)
    (args.sweep / "long_dependency.json").write_text(json.dumps(table, indent=2) + "\n")

    figure, ax = plt.subplots(figsize=(6, 4))
    for cell, by_length in sorted(table["cells"].items()):
        ax.plot(sorted(by_length), [by_length[t] for t in sorted(by_length)], marker="o", label=cell)
    ax.plot(lengths, [table["baseline"][t] for t in lengths], "k--", label=labels["baseline"])
    if metric == "mse":
        ax.set_yscale("log")
    ax.set_xlabel(labels["distance"])
    ax.set_ylabel(f"test {metric}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    figure.tight_layout()
    figure.savefig(args.sweep / "long_dependency.png", dpi=100)
    plt.close(figure)
    print(text + f"plot: {args.sweep / 'long_dependency.png'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.diagnose", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    params = commands.add_parser("params", help="parameter counts: formula vs Keras")
    params.add_argument("--inputs", type=int, default=4)
    params.add_argument("--units", type=int, default=3)
    flow = commands.add_parser("gradient-flow", help="‖∂L/∂h_t‖ per step, untrained and trained, per cell")
    flow.add_argument("--cells", default=",".join(CELLS))
    flow.add_argument("--out", help="output folder (default outputs/diagnose/gradient-flow_<time>)")
    sweep = commands.add_parser("long-dependency", help="test metric against T per cell, from a task.length sweep")
    sweep.add_argument("sweep", type=Path, help="the sweep folder")
    args, overrides = parser.parse_known_args(argv)
    if overrides and args.command != "gradient-flow":  # only gradient-flow takes Hydra overrides
        parser.error(f"unrecognized arguments: {' '.join(overrides)}")
    if args.command == "params":
        if min(args.inputs, args.units) <= 0:
            parser.error("--inputs and --units must be > 0")
        return params_command(args)
    try:
        if args.command == "long-dependency":
            return long_dependency_command(args)
        return gradient_flow_command(args, overrides)
    except Exception as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
