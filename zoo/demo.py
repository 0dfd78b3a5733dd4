"""`python -m zoo.demo RUN [RUN ...] [--port N]`: a local web page where trained runs of one task answer your
input side by side, with per-step views (a sweep folder means its finished runs).

The page only draws: every number comes from `TrainedRun.predict(..., steps=True)`, the code behind
`python -m zoo.predict --steps --json`. Gradio (the `demo` extra) serves it, offline: no analytics, system fonts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from zoo.errors import ZooError  # noqa: E402

DEFAULT_PORT = 7860
NORMS = {"state_norm": "hidden state ‖h‖"}  # other states' norms are labelled by their names (cell_norm: "cell state")


def header(run) -> str:
    """A run's column title: cell, topology, size, test metric and, where the run has one, its baseline's."""
    record = json.loads((run.run_dir / "metrics.json").read_text())
    model, primary = record["model"], record["primary_metric"]
    size = f"{model['units']}x{model['layers']}{' bi' if model['bidirectional'] else ''}"
    baseline = (f" · {record.get('baseline', 'baseline').split(' +')[0]}: {record['baseline_accuracy']:.4f}"
                if "baseline_accuracy" in record else "")  # the simple model a practitioner tries first
    folder = run.name.removeprefix(f"{run.cfg.cell.name}-{run.topology}")  # where two runs share both
    return (f"### {run.cfg.cell.name} · {run.topology}{folder}\n{size}, {record['params']:,} parameters · "
            f"test {primary} {record['test'][primary]:.4f}{baseline}")


def answer_markdown(output: dict) -> str:
    if "probabilities" in output:
        return f"**{output['label']}** ({output['probability']:.1%})"
    from zoo.runs import answer_text

    main, right = answer_text(output)
    return f"**{main}**" + (f" (right: {right})" if right is not None else "")


def probability_chart(runs, outputs):
    """The probability of the answer's class after each word, one line per run (many_to_one text)."""
    import matplotlib.pyplot as plt

    steps = [output.get("steps") for output in outputs]
    if not any(s and "probabilities" in s[0] for s in steps):
        return None
    label = list(outputs[0]["probabilities"])[-1]  # the last label: "positive" for imdb
    figure, ax = plt.subplots(figsize=(9, 3.2))
    for run, run_steps in zip(runs, steps):
        if run_steps:
            ax.plot(range(len(run_steps)), [s["probabilities"][label] for s in run_steps], marker="o", label=run.name)
    tokens = [s["token"] for s in next(s for s in steps if s)]
    ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set(ylim=(0, 1), ylabel=f"P({label}) after the word")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def forecast_chart(runs, outputs):
    """The window read, each run's forecast after it, the baselines' (thin) and, for a test window, what came
    (forecast tasks)."""
    import matplotlib.pyplot as plt

    if "forecast" not in outputs[0]:
        return None
    history = outputs[0]["history"]
    figure, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(range(1 - len(history), 1), history, color="grey", label="the window")
    after = range(1, len(outputs[0]["forecast"]) + 1)
    if "expected" in outputs[0]:
        ax.plot(after, outputs[0]["expected"], "k--", label="what came")
    for name, forecast in outputs[0].get("baselines", {}).items():
        ax.plot(after, forecast, lw=0.8, alpha=0.6, label=name)
    for run, output in zip(runs, outputs):
        ax.plot(after, output["forecast"], marker=".", label=run.name)
    ax.axvline(0.5, color="grey", lw=0.5)
    ax.set(xlabel="steps after the window's last", ylabel="value")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def gate_chart(run, output):
    """Mean gate activations and state norms per step of one run (LSTM, GRU; state norms only for SimpleRNN)."""
    import matplotlib.pyplot as plt

    steps = output.get("steps")
    if not steps or "state_norm" not in steps[0]:
        return None
    gated = "gates" in steps[0]
    figure, axes = plt.subplots(2 if gated else 1, 1, figsize=(4.5, 4 if gated else 2.4), sharex=True, squeeze=False)
    norms = axes[-1, 0]
    if gated:
        for name in steps[0]["gates"]:
            axes[0, 0].plot([s["gates"][name] for s in steps], marker=".", label=name)
        axes[0, 0].set(ylim=(0, 1), ylabel="mean gate")
        axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title(run.name, fontsize=9)
    for name in (key for key in steps[0] if key.endswith("_norm")):
        label = NORMS.get(name, f"{name.removesuffix('_norm')} state ‖{name[0]}‖")
        norms.plot([s[name] for s in steps], marker=".", label=label)
    norms.legend(fontsize=7)
    norms.set_xticks(range(len(steps)), [s["token"] for s in steps], rotation=45, ha="right", fontsize=7)
    figure.tight_layout()
    return figure


def attention_chart(run, output):
    import matplotlib.pyplot as plt

    if "attention" not in output:
        return None
    weights = output["attention"]
    figure, ax = plt.subplots(figsize=(4.5, min(1.5 + 0.25 * len(weights), 8)))
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(output["source_tokens"])), output["source_tokens"], rotation=45, ha="right")
    ax.set_yticks(range(len(output["output_tokens"])), output["output_tokens"])
    ax.set_title(f"{run.name}: attention", fontsize=9)
    figure.tight_layout()
    return figure


def tag_table(runs, outputs, words: list[str]) -> str:
    """Every run's tag under each word; columns where the runs disagree are marked."""
    cells = []
    for i, word in enumerate(words):
        tags = [output["tags"][i] for output in outputs]
        mark = ' class="disagree"' if len(set(tags)) > 1 else ""
        cells.append((word, tags, mark))
    rows = ["<tr><th></th>" + "".join(f"<th{m}>{w}</th>" for w, _, m in cells) + "</tr>"]
    for r, run in enumerate(runs):
        rows.append(f"<tr><th>{run.name}</th>" + "".join(f"<td{m}>{tags[r]}</td>" for _, tags, m in cells) + "</tr>")
    return ('<table class="tags">' + "".join(rows) + "</table>"
            "<style>.tags .disagree{background:#ffe0b2} .tags td,.tags th{padding:2px 6px}</style>")


def shaded_text(output) -> str:
    """Generated characters shaded by the probability each was drawn with (darker: more certain)."""
    import html

    spans = "".join(f'<span style="background:rgba(30,100,220,{s["probability"]:.2f})" title="{s["probability"]:.2f}">'
                    f"{html.escape(s['token'])}</span>" for s in output.get("steps", []))
    return f'<pre style="white-space:pre-wrap">{spans}</pre>'


def views(runs, raw, outputs) -> tuple:
    """What the page shows for one input: each run's answer, and the per-step views its answers carry (a tag per
    word, generated tokens with their probabilities, the probability after each word, gates, attention)."""
    extra = ""
    if "tags" in outputs[0] and isinstance(raw, str):
        extra = tag_table(runs, outputs, raw.split())
    elif any("probability" in step for output in outputs for step in output.get("steps", [])[:1]):
        extra = "".join(f"<h4>{run.name}</h4>{shaded_text(output)}" for run, output in zip(runs, outputs))
    return ([answer_markdown(output) for output in outputs],
            probability_chart(runs, outputs) or forecast_chart(runs, outputs), extra,
            [gate_chart(run, output) for run, output in zip(runs, outputs)],
            [attention_chart(run, output) for run, output in zip(runs, outputs)])


def answer_all(runs, raw) -> tuple:
    outputs = []
    for run in runs:
        [output] = run.predict([raw], **({"steps": True} if "steps" in run.options else {}))
        outputs.append(output)
    return views(runs, raw, outputs)


SCRIPT_FONTS = ("Noto Sans CJK KR", "Noto Sans CJK JP", "NanumGothic", "Malgun Gothic", "AppleGothic")


def charts_read_every_script() -> None:
    """Matplotlib's default font has no Hangul or Kanji: per-word charts of Korean or Japanese text fall back to
    the first of SCRIPT_FONTS installed (Debian: fonts-noto-cjk), glyph by glyph."""
    from matplotlib import font_manager, rcParams

    installed = {font.name for font in font_manager.fontManager.ttflist}
    rcParams["font.family"] = ["DejaVu Sans", *(name for name in SCRIPT_FONTS if name in installed)]


def page(runs):
    """The page for runs of one task: the input its form asks for, then a column per run, and the per-step views
    (shown once an answer carries them)."""
    import gradio as gr

    from zoo.task import Example

    task, form = runs[0].cfg.task.name, runs[0].task.form
    charts_read_every_script()
    with gr.Blocks(title=f"zoo demo: {task}", analytics_enabled=False) as blocks:
        gr.Markdown(f"# {task}: {', '.join(run.name for run in runs)}\n{form.help}. Give an input and compare the "
                    "cells.")
        if form.kind == "fields":
            fields = [gr.Number(value=value, label=name) for name, value in form.fields]
        elif form.kind == "example":
            fields = [gr.Number(value=0, precision=0, label="test example N")]
            if form.image:
                fields.append(gr.Image(type="filepath", label="or an image (PNG, JPEG)"))
        else:
            fields = [gr.Textbox(label="input", placeholder=form.placeholder, elem_id="input-text")]
        submit = gr.Button("Answer", variant="primary", elem_id="submit")
        with gr.Row():
            answers = []
            for i, run in enumerate(runs):
                with gr.Column():
                    gr.Markdown(header(run))
                    answers.append(gr.Markdown(elem_id=f"answer-{i}", elem_classes=["answer"]))
        chart = gr.Plot(label="after each word" if form.kind == "text" else "the forecasts", elem_id="per-word",
                        visible=False)
        extra = gr.HTML(elem_id="per-step")
        with gr.Row():  # the first recurrent layer, step by step
            gates = [gr.Plot(show_label=False, elem_id=f"gates-{i}", visible=False) for i in range(len(runs))]
        with gr.Row():
            attention = [gr.Plot(show_label=False, elem_id=f"attention-{i}", visible=False) for i in range(len(runs))]

        def shown(figure):
            return gr.Plot(value=figure, visible=figure is not None)

        def respond(*values):
            if form.kind == "fields":
                raw = " ".join(f"{name}={value}" for (name, _), value in zip(form.fields, values))
            elif form.kind == "example":
                raw = values[1] if len(values) > 1 and values[1] else Example(int(values[0] or 0))
            else:
                raw = values[0]
            if isinstance(raw, str) and not raw.strip():
                raise gr.Error("type an input first")
            try:
                texts, probability, html_view, gate_figures, attention_figures = answer_all(runs, raw)
            except ZooError as error:
                raise gr.Error(str(error))
            return [*texts, shown(probability), html_view, *map(shown, gate_figures), *map(shown, attention_figures)]

        submit.click(respond, inputs=fields, outputs=[*answers, chart, extra, *gates, *attention])
        if isinstance(fields[0], gr.Textbox):
            fields[0].submit(respond, inputs=fields, outputs=[*answers, chart, extra, *gates, *attention])
    return blocks


def free_port(port: int | None) -> int:
    """`port` if it can be served on, else one line naming it; without a port, 7860 or, if taken, any free one."""
    import socket

    for candidate in ([port] if port is not None else [DEFAULT_PORT, 0]):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
                return probe.getsockname()[1]
            except OSError as e:
                if port is not None:
                    raise ZooError(f"port {port} cannot be served on ({e.strerror or e}); give another --port, or "
                                   "none to have a free one picked") from None
    raise AssertionError("port 0 is always free")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or a sweep folder (its finished runs)")
    parser.add_argument("--port", type=int, help=f"default {DEFAULT_PORT}, or a free one if that is taken")
    args = parser.parse_args(argv)
    try:
        port = free_port(args.port)
        try:
            import gradio as gr
        except ImportError:
            raise ZooError('the demo needs Gradio: pip install -e ".[demo]"') from None
        from zoo.runs import find_runs, load_runs

        runs, skipped = load_runs(find_runs(args.runs))
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    for run in skipped:
        print(f"skipped: {run.why}", file=sys.stderr)
    import matplotlib

    matplotlib.use("Agg")
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    print(f"demo of {len(runs)} runs at http://127.0.0.1:{port}", flush=True)
    try:
        page(runs).launch(server_name="127.0.0.1", server_port=port, theme=theme, footer_links=[], quiet=True)
    except OSError as error:  # the port taken between the check and the launch
        print(f"error: port {port} cannot be served on ({str(error).strip().splitlines()[0]})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
