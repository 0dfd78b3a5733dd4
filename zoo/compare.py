"""`python -m zoo.compare [PATH ...]`: one table over every finished run's metrics.json below the paths, and the
mean ± std over seeds of every configuration that ran with several seeds; `--format html` makes a report with
plots and samples (zoo/report.py). `--mlflow TRACKING_URI [--experiment NAME]` reads the same records from the
runs logged with logger=mlflow instead of from their folders."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from zoo import tracking
from zoo.errors import ZooError
from zoo.resume import write_record

COLUMNS = ["task", "topology", "cell", "size", "seed", "params", "primary", "test", "epochs", "train_s", "status",
           "overrides", "run"]
SHOWN_ELSEWHERE = ("task=", "cell=", "topology=", "seed=")  # overrides that already have a column


def load_runs(paths: list[Path]) -> list[dict]:
    runs = []
    for path in paths:
        files = [path] if path.name == "metrics.json" else sorted(path.rglob("metrics.json"))
        for file in files:
            try:
                record = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError) as e:
                record = {"status": "unreadable", "error": str(e)}
            runs.append({**record, "run": str(file.parent), "overrides": overrides(file.parent)})
    return runs


def overrides(run_dir: Path) -> str:
    """The command-line overrides of a run (from Hydra's record), which tell apart the rows of a sweep."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return ""
    given = OmegaConf.load(path)
    return " ".join(o for o in given if not o.startswith(SHOWN_ELSEWHERE))


def format_metrics(metrics: dict, skip: str) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k != skip and isinstance(v, (int, float)))


def size(model: dict) -> str:
    return f"{model.get('units', '?')}x{model.get('layers', '?')}" + ("bi" if model.get("bidirectional") else "")


def table(runs: list[dict]) -> pd.DataFrame:
    """One row per run, grouped by task, best primary test metric first; failed runs last in their task."""
    rows = []
    for r in runs:
        model, test, primary = r.get("model", {}), r.get("test", {}), r.get("primary_metric", "")
        value = test.get(primary)
        rows.append({
            "task": r.get("task", "?"),
            "topology": r.get("topology", "?"),
            "cell": r.get("cell", "?"),
            "size": size(model),
            "seed": r.get("seed"),
            "params": r.get("params"),
            "primary": f"{primary}={value:.4f}" if value is not None else "",
            "test": format_metrics(test, skip=primary) + (
                f" baseline={r['baseline_accuracy']:.4f}" if "baseline_accuracy" in r else "") + "".join(
                f" {name}:{primary}={scores[primary]:.4g}" for name, scores in test.get("baselines", {}).items()),
            "epochs": r.get("epochs_run"),
            "train_s": r.get("train_seconds"),
            "status": r.get("status", "?") + (f": {r['error']}" if r.get("error") else ""),
            "overrides": r["overrides"],
            "run": r["run"],
            "_sort": float("inf") if value is None else value if r.get("primary_goal", "max") == "min" else -value,
        })
    frame = pd.DataFrame(rows, columns=COLUMNS + ["_sort"])
    frame = frame.astype({"seed": "Int64", "params": "Int64", "epochs": "Int64"})  # whole numbers despite gaps
    return frame.sort_values(["task", "_sort", "topology", "cell"]).drop(columns="_sort").reset_index(drop=True)


def seed_table(runs: list[dict]) -> pd.DataFrame:
    """Mean ± std (sample) of the primary test metric for every configuration that finished with more than one
    seed; a configuration is everything but the seed (task, topology, cell, size and the other overrides)."""
    groups = {}
    for r in runs:
        metric = r.get("primary_metric", "")
        value = r.get("test", {}).get(metric)
        if r.get("status") == "ok" and value is not None:
            key = (r["task"], r["topology"], r["cell"], size(r.get("model", {})), r["overrides"], metric,
                   r.get("primary_goal", "max"))
            groups.setdefault(key, []).append((r.get("seed"), value))
    rows = []
    for (task, topology, cell, model_size, given, metric, goal), results in groups.items():
        if len(results) > 1:
            values = [value for _, value in results]
            rows.append({"task": task, "topology": topology, "cell": cell, "size": model_size,
                         "primary": f"{metric}={np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}",
                         "runs": len(values), "seeds": ",".join(str(seed) for seed, _ in sorted(results, key=str)),
                         "overrides": given,
                         "_sort": -np.mean(values) if goal == "max" else np.mean(values)})
    columns = ["task", "topology", "cell", "size", "primary", "runs", "seeds", "overrides"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values(["task", "_sort"])[columns].reset_index(drop=True)


def render(frame: pd.DataFrame, fmt: str, seeds: pd.DataFrame | None = None) -> str:
    """The runs table as csv, json or markdown; markdown adds the table over seeds when there is one."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2)
    text = frame.to_markdown(index=False)
    if seeds is not None and len(seeds):
        text += "\n\nMean ± std over seeds:\n\n" + seeds.to_markdown(index=False)
    return text


def print_table(frame: pd.DataFrame, seeds: pd.DataFrame) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    for rows, title in ((frame, None), (seeds, "Mean ± std over seeds")):
        if title and not len(rows):
            continue
        grid = Table(title=title)
        for column in rows.columns:
            grid.add_column(column, overflow="fold")
        for task, group in rows.groupby("task", sort=True):
            for _, row in group.iterrows():
                grid.add_row(*("" if pd.isna(v) else str(v) for v in row))
            grid.add_section()
        console.print(grid)


class ResultsTable(Callback):
    """Writes results.md, results.csv and report.html into the sweep folder when a multirun ends, failed jobs
    included."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from zoo.report import render_html

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = load_runs([sweep_dir])
        for record in runs:
            if record.get("status") == "running":  # every job has ended: this one's process was killed or lost
                record.update(status="interrupted", error="its job ended before the run did; the same command "
                              f"with hydra.sweep.dir={sweep_dir} resumes it from its last finished epoch")
                write_record(Path(record["run"]), {key: value for key, value in record.items()
                                                   if key not in ("run", "overrides")})
        frame, seeds = table(runs), seed_table(runs)
        (sweep_dir / "results.md").write_text(render(frame, "md", seeds) + "\n")
        (sweep_dir / "results.csv").write_text(render(frame, "csv"))
        (sweep_dir / "report.html").write_text(render_html(frame, runs, [sweep_dir], seeds))
        print_table(frame, seeds)
        print(f"results: {sweep_dir / 'results.md'}")
        unfinished = Counter(r.get("status", "?") for r in runs if r.get("status") != "ok")
        if unfinished:
            counts = ", ".join(f"{count} {status}" for status, count in unfinished.most_common())
            print(f"error: {unfinished.total()} of {len(runs)} jobs did not finish ({counts})", file=sys.stderr)
            sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.compare", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("outputs")],
                        help="run folders, sweep folders or metrics.json files (default: outputs/)")
    parser.add_argument("--format", choices=["table", "md", "csv", "json", "html"], default="table")
    parser.add_argument("--out", type=Path, help="write here instead of printing")
    parser.add_argument("--mlflow", metavar="TRACKING_URI",
                        help="read the runs from this MLflow store (logger=mlflow) instead of run folders")
    parser.add_argument("--experiment", help="with --mlflow: only this experiment's runs (a sweep: its folder name)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing and not args.mlflow:
        print(f"error: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.mlflow:
        try:
            runs = [{**record, "overrides": overrides(Path(record["run"]))}
                    for record in tracking.records(args.mlflow, args.experiment)]
        except ZooError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    else:
        runs = load_runs(args.paths)
    if not runs:
        where = f"in {args.mlflow}" if args.mlflow else f"below {', '.join(map(str, args.paths))}"
        print(f"error: no metrics.json {where}", file=sys.stderr)
        return 1
    frame, seeds = table(runs), seed_table(runs)
    if args.format == "table" and not args.out:
        print_table(frame, seeds)
        return 0
    if args.format == "html":
        from zoo.report import render_html  # matplotlib: only when a report is asked for

        text = render_html(frame, runs, args.paths, seeds)
    else:
        text = render(frame, "md" if args.format == "table" else args.format, seeds)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0

if __name__ == "__main__":
    sys.exit(main())
