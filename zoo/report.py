"""A self-contained HTML report over finished runs: the results table (sortable, best per task marked, failed
runs shown), learning curves, the primary metric by cell x topology, parameters and train time against the
metric, each run's samples, and the diagnose plots found below the paths. Images are inline PNGs, so the file
opens offline. `python -m zoo.compare PATH ... --format html --out report.html`; sweeps write report.html."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

DIAGNOSE_PLOTS = ("gradient_flow.png", "long_dependency.png")
SAMPLES_SHOWN = 5

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; cursor: pointer; user-select: none; }
tr.best td { background: #e3f6e3; font-weight: 600; }
tr.failed td { color: #a00; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.5em; white-space: pre-wrap; font-size: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
"""

# click a column header to sort by it (numbers numerically); again to reverse
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, column) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = [...body.rows];
  const descending = th.dataset.order !== "desc"; th.dataset.order = descending ? "desc" : "asc";
  const key = row => { const text = row.cells[column].innerText, number = parseFloat(text.split("=").pop());
                       return isNaN(number) ? text : number; };
  rows.sort((a, b) => { const x = key(a), y = key(b); const order = x < y ? -1 : x > y ? 1 : 0;
                        return descending ? -order : order; });
  rows.forEach(row => body.appendChild(row));
}));
"""


def png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return image(buffer.getvalue(), "figure")


def image(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def label(run: dict) -> str:
    return " ".join(filter(None, [run.get("cell", "?"), run.get("topology", ""), run.get("overrides", ""),
                                  f"seed={run.get('seed')}"]))


def short_labels(runs: list[dict]) -> dict[str, str]:
    """Each run's label without the words that all of the task's runs share (trainer.verbose=2 in every one)."""
    words = {run["run"]: label(run).split() for run in runs}
    shared = set.intersection(*map(set, words.values())) if len(runs) > 1 else set()
    return {name: " ".join(w for w in ws if w not in shared) or ws[0] for name, ws in words.items()}


def history(run: dict) -> pd.DataFrame | None:
    path = Path(run["run"]) / "history.csv"
    return pd.read_csv(path) if path.exists() else None


def results_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in frame.columns)
    rows, best_seen = [], set()
    for _, row in frame.iterrows():
        ok = str(row.status).startswith("ok")
        css = "failed" if not ok else "best" if row.task not in best_seen else ""
        if ok:
            best_seen.add(row.task)
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in row)
        rows.append(f'<tr class="{css}">{cells}</tr>')
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def learning_curves(runs: list[dict], metric: str) -> str | None:
    curves = [(run, h) for run in runs if (h := history(run)) is not None and len(h)]
    if not curves:
        return None
    names = short_labels([run for run, _ in curves])
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for (run, h), color in zip(curves, plt.cm.tab10.colors * 10):
        for axis, key in zip(axes, ("loss", metric)):
            epochs = h["epoch"] + 1
            if key in h:
                axis.plot(epochs, h[key], color=color, label=f"{names[run['run']]} train")
            if f"val_{key}" in h:
                axis.plot(epochs, h[f"val_{key}"], color=color, linestyle="--", label=f"{names[run['run']]} val")
    for axis, key in zip(axes, ("loss", metric)):
        axis.set(xlabel="epoch", ylabel=key, title=f"{key} (solid: train, dashed: validation)")
    axes[1].legend(fontsize=7, loc="best")
    return png(figure)


def metric_bars(runs: list[dict], metric: str) -> str | None:
    values = {}
    for run in runs:
        value = run.get("test", {}).get(metric)
        if run.get("status") == "ok" and value is not None:
            values.setdefault(f"{run['cell']}\n{run['topology']}", []).append(value)
    if not values:
        return None
    names = sorted(values)
    means = [np.mean(values[n]) for n in names]
    errors = [np.std(values[n], ddof=1) if len(values[n]) > 1 else 0 for n in names]
    figure, axis = plt.subplots(figsize=(max(4, 1.3 * len(names)), 3.5))
    bars = axis.bar(names, means, yerr=errors, capsize=4, color="#7a9cc6")
    axis.bar_label(bars, fmt="%.4g", label_type="center")
    axis.set(ylabel=f"test {metric}", title=f"test {metric} by cell × topology (mean ± std over seeds)")
    return png(figure)


def scatter(runs: list[dict], metric: str) -> str | None:
    points = [(run["cell"], run.get("params"), run.get("train_seconds"), run["test"][metric]) for run in runs
              if run.get("status") == "ok" and metric in run.get("test", {})]
    if not points:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for cell in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == cell]
        axes[0].scatter([p[1] for p in mine], [p[3] for p in mine], label=cell)
        axes[1].scatter([p[2] for p in mine], [p[3] for p in mine], label=cell)
    axes[0].set(xlabel="trainable parameters", ylabel=f"test {metric}", xscale="log")
    axes[1].set(xlabel="train seconds", ylabel=f"test {metric}")
    axes[0].legend()
    return png(figure)


def samples(run: dict) -> str:
    """What the run's model actually produced, where its task writes samples."""
    folder, parts = Path(run["run"]), []
    if (folder / "samples.json").exists():
        shown = json.loads((folder / "samples.json").read_text())[:SAMPLES_SHOWN]
        if shown:
            columns = list(shown[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(str(s.get(c, '')))}</td>" for c in columns) + "</tr>"
                           for s in shown)
            parts.append(f"<table><tr>{''.join(f'<th>{c}</th>' for c in columns)}</tr>{body}</table>")
    if (folder / "samples.png").exists():
        parts.append(image((folder / "samples.png").read_bytes(), "samples"))
    if (folder / "samples.txt").exists():
        last = "=== epoch" + (folder / "samples.txt").read_text().split("=== epoch")[-1]  # the last epoch's
        parts.append(f"<pre>{html.escape(last.strip())}</pre>")
    if not parts:
        return ""
    return f"<details open><summary>{html.escape(label(run))}</summary>{''.join(parts)}</details>"


def task_section(task: str, runs: list[dict]) -> str:
    metric = next((r["primary_metric"] for r in runs if r.get("primary_metric")), "loss")
    parts = [f"<h2>{html.escape(task)}</h2>"]
    figures = [f for f in (learning_curves(runs, metric), metric_bars(runs, metric), scatter(runs, metric)) if f]
    parts.append(f'<div class="figures">{"".join(figures)}</div>')
    shown = "".join(samples(run) for run in runs)
    if shown:
        parts.append(f"<h3>Samples</h3>{shown}")
    return "".join(parts)


def render_html(frame: pd.DataFrame, runs: list[dict], paths: list[Path], seeds: pd.DataFrame | None = None) -> str:
    by_task = {}
    for run in runs:
        by_task.setdefault(run.get("task", "?"), []).append(run)
    body = [f"<h1>Sequence-model zoo: {len(runs)} runs</h1>", results_table(frame)]
    if seeds is not None and len(seeds):
        body += ["<h3>Mean ± std over seeds</h3>", seeds.to_html(index=False)]
    body += [task_section(task, task_runs) for task, task_runs in sorted(by_task.items())]
    plots = sorted({p for path in paths if path.is_dir() for name in DIAGNOSE_PLOTS for p in path.rglob(name)})
    if plots:
        body.append("<h2>Diagnostics</h2>")
        body += [f"<h3>{html.escape(str(p))}</h3>{image(p.read_bytes(), p.name)}" for p in plots]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sequence-model zoo report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>")
