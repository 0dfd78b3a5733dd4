"""`python -m zoo.evaluate RUN [task.KEY=VALUE ...]`: score a trained run on its test split again, with its
task's settings as trained or changed (e.g. `task.beam_size=1` decodes a translation greedily).

The test split is read from the data as training read it (`paths.data_dir=DIR` where it has moved) and scored
by the runner's own test code, so an evaluation with no settings changed gives the run's metrics.json again.
The scores, beside metrics.json's, are printed and written with the task's samples to
RUN/evaluations/<settings>/ (the run's own files are left as they are).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

from zoo.errors import ZooError

EVALUATIONS = "evaluations"


def evaluation_dir(run_dir: Path, settings: list[str]) -> Path:
    name = ",".join(settings) or "as_trained"
    return run_dir / EVALUATIONS / re.sub(r"[^\w.,=+-]", "_", name)


def evaluate(run_dir, settings: list[str] = ()) -> dict:
    """The run's test metrics under `settings`, also written to its evaluation folder's metrics.json."""
    from zoo.runs import load

    run = load(run_dir, list(settings))  # in today's layout: trainer settings a run predates take their defaults
    import keras
    from omegaconf import OmegaConf

    from zoo.config import OptimizerConfig
    from zoo.resume import write_record
    from zoo.runner import compile_model, evaluate_test, load_splits, task_loss

    trainer = run.cfg.trainer
    keras.utils.set_random_seed(run.cfg.seed)
    spec, splits = load_splits(run.task, trainer)
    now, trained = dataclasses.asdict(spec), dataclasses.asdict(run.spec)
    if now != trained:
        changed = [key for key in now if now[key] != trained[key]]
        raise ZooError(f"the data under these settings does not fit the trained model ({', '.join(changed)} "
                       "changed); evaluate with settings that leave the data as it was")
    optimizer = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(OptimizerConfig), run.cfg.optimizer))
    compile_model(run.model, task_loss(run.task, trainer), run.task.metrics(), trainer, optimizer)
    out = evaluation_dir(run.run_dir, list(settings))
    out.mkdir(parents=True, exist_ok=True)
    record = {"run": str(run.run_dir), "settings": list(settings),
              "test": evaluate_test(run.model, spec, run.topology, run.task, splits, out), **run.task.extras()}
    write_record(out, record)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", metavar="RUN", help="a finished run folder")
    parser.add_argument("settings", nargs="*", metavar="task.KEY=VALUE",
                        help="task settings to change (and paths.data_dir=DIR)")
    args = parser.parse_args(argv)
    try:
        record = evaluate(Path(args.run), args.settings)
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    from tabulate import tabulate

    trained = json.loads((Path(args.run) / "metrics.json").read_text())["test"]
    rows = [[name, trained.get(name), value] for name, value in record["test"].items()]
    print(tabulate(rows, headers=["test metric", "metrics.json", " ".join(args.settings) or "as trained"],
                   floatfmt=".4f"))
    print(f"written to {evaluation_dir(Path(args.run), args.settings)}")


if __name__ == "__main__":
    main()
