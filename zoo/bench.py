"""Benchmarks.

    python -m zoo.bench throughput [--cells gru,lstm,simple_rnn] [--sides zoo,zoo.xla,torch,torch.compile]
                                   [--batches 30] [--repeats 3] [--out FILE] [overrides]
    python -m zoo.bench quality [--tasks imdb,bp,...] [--cells gru,lstm,simple_rnn] [--out DIR] [overrides]
    python -m zoo.bench predict RUN [RUN ...] [--count N]

`throughput` trains the same many-to-one model (embedding -> one recurrent layer -> dense) for a fixed number of
batches of random tokens, as the zoo builds, compiles and feeds it (`topologies.many_to_one`,
`runner.compile_model`, `task.batched`, with the configured trainer settings: Hydra overrides such as
`trainer.learning_rate` apply; the side `zoo` trains without XLA, `zoo.xla` with), and as the equivalent PyTorch model
(`torch.nn.GRU` / `LSTM` / `RNN`, Adam, the same gradient clipping) run as a PyTorch user would on a CPU:
denormal floats flushed to zero (`torch.set_flush_denormal(True)`; TensorFlow flushes them by default, and
PyTorch's CPU RNN crawls through them), eager and under `torch.compile`. Each timed pass runs in a process of its
own after an untimed one, the sides alternating (`--sides`), on the same data with the same thread count. It
prints each side's median samples/s over the repeats with their range, each zoo side's ratio to each PyTorch
side, and a warning where one side's repeats differ by more than 20 %; `--out` writes the rows as JSON. PyTorch
is an optional extra: `pip install -e ".[bench]"`.

`quality` runs every task with its own defaults (conf/task/<task>.yaml) for every cell, as a Hydra sweep per
task under DIR, and prints one row per task and cell: the primary test metric, training seconds, and the
seconds at which the validation metric first reached the task's target (`seconds_to_target` in metrics.json),
and the task's other test metrics (BLEU, exact match, macro-F1...). The table is also written to DIR/quality.md;
running the same command again with the same --out reports the finished runs without training them again.

`predict` measures using a trained run: the cold start of `python -m zoo.predict` (process start to its first
answer) and answers per second over the run's raw test inputs, with the share answered right beside the test
accuracy in metrics.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from omegaconf import OmegaConf

import tasks
from zoo import topologies
from zoo.cells import CELLS
from zoo.compare import format_metrics, load_runs
from zoo.config import compose_config
from zoo.runner import compile_model
from zoo.task import Spec, batched

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [{"batch": 64, "length": 200, "embedding": 128, "units": 64},
          {"batch": 64, "length": 200, "embedding": 128, "units": 256}]
VOCABULARY = 10000
SIDES = ("zoo", "zoo.xla", "torch", "torch.compile")  # zoo: trainer.jit_compile=false, zoo.xla: true
ZOO_SIDES = ("zoo", "zoo.xla")
SPREAD_WARNING = 0.2  # a side whose repeats differ by more than this share of their median is flagged


def random_data(shape: dict, batches: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    count = batches * shape["batch"]
    return (rng.integers(1, VOCABULARY, (count, shape["length"]), dtype="int32"),
            rng.integers(0, 2, count, dtype="int32"))


def zoo_model(cell: str, shape: dict, cfg) -> keras.Model:
    """The zoo's many-to-one model for `shape`, compiled with the configured trainer settings."""
    spec = Spec(inputs="tokens", input_size=VOCABULARY, outputs="class", output_size=2)
    model_cfg = dataclasses.replace(OmegaConf.to_object(cfg.model), units=shape["units"], layers=1,
                                    embedding_dim=shape["embedding"], bidirectional=False, dropout=0.0)
    keras.backend.clear_session()
    model = topologies.many_to_one(spec, cell, model_cfg)
    compile_model(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"],
                  OmegaConf.to_object(cfg.trainer), OmegaConf.to_object(cfg.optimizer))
    return model


def zoo_trainer(cell: str, shape: dict, x: np.ndarray, y: np.ndarray, cfg):
    """A function that trains the zoo's model for one pass over (x, y) through the zoo's input pipeline."""
    model = zoo_model(cell, shape, cfg)
    data = batched(tf.data.Dataset.from_tensor_slices((x, y)), len(y), shape["batch"], shuffle=True, seed=0)
    return lambda: model.fit(data, shuffle=False, verbose=0)


def torch_model(cell: str, shape: dict):
    """The same architecture in PyTorch: embedding -> one recurrent layer -> last output -> dense."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCABULARY, shape["embedding"], padding_idx=0)
            self.rnn = CELLS[cell].torch(shape["embedding"], shape["units"])
            self.logits = nn.Linear(shape["units"], 2)

        def forward(self, tokens):
            outputs, _ = self.rnn(self.embedding(tokens))
            return self.logits(outputs[:, -1])

    torch.manual_seed(0)
    return Model()


def torch_trainer(cell: str, shape: dict, x: np.ndarray, y: np.ndarray, cfg, compiled: bool = False):
    """A function that trains the PyTorch model for one pass over (x, y), denormals flushed, on as many threads
    as the zoo's side; `compiled`: under torch.compile."""
    import torch
    from torch import nn

    torch.set_flush_denormal(True)
    torch.set_num_threads(os.cpu_count())
    model = torch_model(cell, shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.trainer.learning_rate)
    forward = torch.compile(model) if compiled else model
    size = shape["batch"]
    batches = [(torch.from_numpy(x[i:i + size]).long(), torch.from_numpy(y[i:i + size]).long())
               for i in range(0, len(y), size)]

    def train():
        for tokens, labels in batches:
            optimizer.zero_grad()
            nn.functional.cross_entropy(forward(tokens), labels).backward()
            if cfg.trainer.clipnorm:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.clipnorm)
            optimizer.step()

    return train


def samples_per_second(train, samples: int) -> float:
    start = time.perf_counter()
    train()
    return samples / (time.perf_counter() - start)


def timed_pass(side: str, cell: str, shape: dict, batches: int, overrides: list[str]) -> float:
    """One side's samples/s over one pass, in this process (`throughput` starts one process per pass)."""
    x, y = random_data(shape, batches)
    cfg = compose_config([*overrides, f"trainer.jit_compile={str(side == 'zoo.xla').lower()}"])
    if side in ZOO_SIDES:  # TensorFlow's ops run on every core by default
        train = zoo_trainer(cell, shape, x, y, cfg)
    else:
        train = torch_trainer(cell, shape, x, y, cfg, compiled=side == "torch.compile")
    train()  # an untimed pass first (tracing, compiling): the timed one is in the steady state of a run's epochs
    return samples_per_second(train, len(y))


def pass_in_own_process(side: str, cell: str, shape: dict, batches: int, overrides: list[str]) -> float | str:
    """samples/s of one pass in a fresh process, or why it failed (torch.compile may not work on a machine)."""
    done = subprocess.run([sys.executable, "-m", "zoo.bench", "timed-pass", side, cell, json.dumps(shape),
                           str(batches), *overrides], capture_output=True, text=True)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return float(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def throughput(cells: list[str], sides: list[str], batches: int, repeats: int, overrides: list[str]) -> list[dict]:
    rows = []
    for shape in SHAPES:
        for cell in cells:
            measured, failed = {side: [] for side in sides}, {}
            for _ in range(repeats):
                for side in sides:  # alternating processes: a noisy moment hits every side alike
                    result = pass_in_own_process(side, cell, shape, batches, overrides)
                    if isinstance(result, str):
                        failed[side] = result
                    else:
                        measured[side].append(round(result, 1))
            row = {"cell": cell, **shape, "repeats": measured, "failed": failed}
            row |= {side: statistics.median(values) if values else None for side, values in measured.items()}
            row |= {f"{zoo}/{side}": round(row[zoo] / row[side], 2) for zoo in sides if zoo in ZOO_SIDES
                    for side in sides if side not in ZOO_SIDES and row[zoo] and row[side]}
            rows.append(row)
            print(f"{cell:<11} units {shape['units']:>3}: " + ", ".join(
                f"{side} {row[side]:7.1f} ({min(measured[side])}-{max(measured[side])})" if measured[side]
                else f"{side} failed ({failed[side]})" for side in sides) + "; " + ", ".join(
                f"{key} {value:.2f}" for key, value in row.items() if "/" in key), flush=True)
            for side, values in measured.items():
                if len(values) > 1 and spread(values) > SPREAD_WARNING:
                    print(f"warning: {cell} units {shape['units']}: {side}'s repeats differ by "
                          f"{spread(values):.0%} of their median ({values}); rerun on a quieter machine", flush=True)
    return rows


def quality(task_names: list[str], cells: list[str], out: Path, overrides: list[str]) -> pd.DataFrame:
    for task in task_names:
        subprocess.run([sys.executable, "-m", "zoo", "-m", f"task={task}", f"cell={','.join(cells)}",
                        f"hydra.sweep.dir={out / task}", *overrides], check=False)
    rows = []
    for run in load_runs([out]):
        primary = run.get("primary_metric")
        rows.append({"task": run.get("task"), "cell": run.get("cell"), "topology": run.get("topology"),
                     "metric": primary, "test": run.get("test", {}).get(primary), "train_s": run.get("train_seconds"),
                     "target (val)": run.get("target"), "s_to_target": run.get("seconds_to_target"),
                     "status": run.get("status"), "other test metrics": format_metrics(run.get("test", {}), primary)})
    frame = pd.DataFrame(rows).sort_values(["task", "cell"]).reset_index(drop=True)
    (out / "quality.md").write_text(frame.to_markdown(index=False, floatfmt=".4g") + "\n")
    (out / "quality.json").write_text(frame.to_json(orient="records", indent=2) + "\n")
    return frame


def predict_speed(run_dir: Path, count: int | None) -> dict:
    """Cold start (a fresh `python -m zoo.predict` process answering one test input, start to finish) and
    answers per second over the run's raw test inputs (read from the training data) through `TrainedRun.predict`,
    with the share of them answered right (labels; tags per word; exact text)."""
    from zoo import runs

    trained = runs.load(run_dir)
    trained.task.load(batch_size=64)  # the data again: the test split's raw inputs
    pairs = trained.task.test_inputs(count or sys.maxsize)
    inputs, right = [raw for raw, _ in pairs], [answer for _, answer in pairs]
    first = runs.as_json(inputs[0])
    one_input = ["--example", str(first["example"])] if isinstance(first, dict) else ["--input", first]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zoo.predict", str(run_dir), *one_input], check=True, capture_output=True)
    cold_start = time.perf_counter() - start
    start = time.perf_counter()
    answers = trained.predict(inputs)
    seconds = time.perf_counter() - start
    record = json.loads((run_dir / "metrics.json").read_text())
    if "tags" in answers[0]:
        pairs = [(a, r) for answer, tags in zip(answers, right) for a, r in zip(answer["tags"], tags)]
        correct = float(np.mean([a == r for a, r in pairs]))
    elif "label" in answers[0] or "text" in answers[0]:
        field = "label" if "label" in answers[0] else "text"
        correct = float(np.mean([answer[field].lower() in [x.lower() for x in (r if isinstance(r, list) else [r])]
                                 for answer, r in zip(answers, right)]))  # translations: any reference, any case
    else:
        correct = None
    return {"run": str(run_dir), "task": record["task"], "cell": record["cell"], "inputs": len(inputs),
            "cold_start_s": round(cold_start, 2), "answers_per_s": round(len(inputs) / seconds, 1),
            "right": correct, "test accuracy (metrics.json)": record["test"].get("accuracy")}


def predict_command(args) -> int:
    rows = [predict_speed(Path(run), args.count) for run in args.runs]
    frame = pd.DataFrame(rows)
    print(frame.to_markdown(index=False, floatfmt=".4g"))
    return 0


def throughput_command(args, cells: list[str], sides: list[str], overrides: list[str]) -> int:
    try:
        import torch
    except ImportError:
        print('error: PyTorch is not installed; pip install -e ".[bench]"', file=sys.stderr)
        return 1
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, PyTorch {torch.__version__}; "
          f"{os.cpu_count()} threads each; a process per timed pass", flush=True)
    rows = throughput(cells, sides, args.batches, args.repeats, overrides)
    if args.out:
        args.out.write_text(json.dumps({"overrides": overrides, "rows": rows}, indent=2) + "\n")
    return 0


def quality_command(args, cells: list[str], overrides: list[str]) -> int:
    out = args.out or ROOT / "outputs" / "bench" / time.strftime("quality_%Y-%m-%d_%H-%M-%S")
    frame = quality(args.tasks.split(","), cells, out, overrides)
    print(frame.to_markdown(index=False, floatfmt=".4g"))
    print(f"table: {out / 'quality.md'}")
    return 0 if (frame.status == "ok").all() else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.bench", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("throughput", help="samples/s of the zoo's training against PyTorch's")
    speed.add_argument("--cells", default="gru,lstm,simple_rnn")
    speed.add_argument("--sides", default=",".join(SIDES),
                       help="which of zoo, zoo.xla (trainer.jit_compile=true), torch, torch.compile to time")
    speed.add_argument("--batches", type=int, default=30, help="batches per timed pass")
    speed.add_argument("--repeats", type=int, default=3)
    speed.add_argument("--out", type=Path, help="also write the rows as JSON here")
    runs = commands.add_parser("quality", help="test metric, train time and time to target, per task and cell")
    runs.add_argument("--tasks", default=",".join(tasks.names()))
    runs.add_argument("--cells", default="gru,lstm,simple_rnn")
    runs.add_argument("--out", type=Path, help="sweep folders and quality.md (default outputs/bench/quality_<time>)")
    answering = commands.add_parser("predict", help="cold start and answers/s of trained runs on their test inputs")
    answering.add_argument("runs", nargs="+", metavar="RUN")
    answering.add_argument("--count", type=int, help="test inputs to answer (default all)")
    one_pass = commands.add_parser("timed-pass", help="(what throughput runs in each process) one side's pass")
    one_pass.add_argument("side", choices=SIDES)
    one_pass.add_argument("cell")
    one_pass.add_argument("shape", type=json.loads)
    one_pass.add_argument("batches", type=int)
    args, overrides = parser.parse_known_args(argv)
    if args.command == "timed-pass":
        print(timed_pass(args.side, args.cell, args.shape, args.batches, overrides))
        return 0
    if args.command == "predict":
        return predict_command(args)
    cells = args.cells.split(",")
    twinned = [name for name, cell in CELLS.items() if cell.torch is not None or args.command == "quality"]
    if unknown := [c for c in cells if c not in twinned]:
        parser.error(f"unknown cell {', '.join(unknown)}; choose from {', '.join(twinned)}"
                     + (" (the cells with a PyTorch twin)" if args.command == "throughput" else ""))
    if args.command == "throughput":
        if min(args.batches, args.repeats) <= 0:
            parser.error("--batches and --repeats must be > 0")
        sides = args.sides.split(",")
        if not set(sides) & set(ZOO_SIDES) or not set(sides) <= set(SIDES):
            parser.error(f"--sides takes zoo or zoo.xla and any of {', '.join(SIDES)}, not {args.sides}")
        return throughput_command(args, cells, sides, overrides)
    if unknown := [t for t in args.tasks.split(",") if t not in tasks.names()]:
        parser.error(f"unknown task {', '.join(unknown)}; choose from {', '.join(tasks.names())}")
    return quality_command(args, cells, overrides)


if __name__ == "__main__":
    sys.exit(main())
