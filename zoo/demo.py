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
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from zoo.errors import ZooError  # noqa: E402

EXAMPLE_PATIENT = {"age": 52, "gender": 1, "height": 168, "weight": 81, "cholesterol": 1, "gluc": 1, "smoke": 0,
                   "alco": 0, "active": 1}
STEPPED = ("imdb", "pos", "translation")  # tasks whose answers carry gate and state steps
EXAMPLE_TASKS = ("captioning", "memory", "video")  # tasks that answer generated test examples (--example N)
PLACEHOLDERS = {"imdb": "It was not great, but I recommend it.", "pos": "The old man the boats .",
                "translation": "I would like a cup of coffee.", "shakespeare": "ROMEO:"}


def header(run) -> str:
    """A run's column title: cell, topology, size and test metric."""
    record = json.loads((run.run_dir / "metrics.json").read_text())
    model, primary = record["model"], record["primary_metric"]
    size = f"{model['units']}x{model['layers']}{' bi' if model['bidirectional'] else ''}"
    return (f"### {run.cfg.cell.name} · {run.topology}\n{size}, {record['params']:,} parameters · "
            f"test {primary} {record['test'][primary]:.4f}")


def answer_text(output: dict) -> str:
    if "probabilities" in output:
        return f"**{output['label']}** ({output['probability']:.1%})"
    from zoo.predict import main_and_right

    main, right = main_and_right(output)
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
    for name, label in (("state_norm", "hidden state ‖h‖"), ("cell_norm", "cell state ‖c‖")):
        if name in steps[0]:
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
    """What the page shows for one input: each run's answer, and the per-step views."""
    task = runs[0].cfg.task.name
    extra = ""
    if task == "pos":
        extra = tag_table(runs, outputs, raw.split())
    elif task == "shakespeare":
        extra = "".join(f"<h4>{run.name}</h4>{shaded_text(output)}" for run, output in zip(runs, outputs))
    return ([answer_text(output) for output in outputs], probability_chart(runs, outputs), extra,
            [gate_chart(run, output) for run, output in zip(runs, outputs)],
            [attention_chart(run, output) for run, output in zip(runs, outputs)])


def answer_all(runs, raw) -> tuple:
    outputs = []
    for run in runs:
        [output] = run.predict([raw], **({"steps": True} if "steps" in run.options else {}))
        outputs.append(output)
    return views(runs, raw, outputs)


def page(runs):
    import gradio as gr

    from zoo.task import Example

    task = runs[0].cfg.task.name
    with gr.Blocks(title=f"zoo demo: {task}", analytics_enabled=False) as blocks:
        gr.Markdown(f"# {task}: {', '.join(run.name for run in runs)}\nType an input and compare the cells.")
        if task == "bp":
            fields = [gr.Number(value=value, label=name) for name, value in EXAMPLE_PATIENT.items()]
        elif task in EXAMPLE_TASKS:
            fields = [gr.Number(value=0, precision=0, label="test example N")]
            if task == "captioning":
                fields.append(gr.Image(type="filepath", label="or an image (PNG, JPEG)"))
        else:
            fields = [gr.Textbox(label="input", placeholder=PLACEHOLDERS.get(task, ""), elem_id="input-text")]
        submit = gr.Button("Answer", variant="primary", elem_id="submit")
        with gr.Row():
            answers = []
            for i, run in enumerate(runs):
                with gr.Column():
                    gr.Markdown(header(run))
                    answers.append(gr.Markdown(elem_id=f"answer-{i}", elem_classes=["answer"]))
        chart = gr.Plot(label="after each word", elem_id="per-word", visible=task == "imdb")
        extra = gr.HTML(elem_id="per-step")
        with gr.Row(visible=task in STEPPED):  # the first recurrent layer, step by step
            gates = [gr.Plot(show_label=False, elem_id=f"gates-{i}") for i in range(len(runs))]
        with gr.Row(visible=task == "translation"):
            attention = [gr.Plot(show_label=False, elem_id=f"attention-{i}") for i in range(len(runs))]

        def respond(*values):
            if task == "bp":
                raw = " ".join(f"{name}={value}" for name, value in zip(EXAMPLE_PATIENT, values))
            elif task in EXAMPLE_TASKS:
                raw = values[1] if len(values) > 1 and values[1] else Example(int(values[0] or 0))
            else:
                raw = values[0]
            if isinstance(raw, str) and not raw.strip():
                raise gr.Error("type an input first")
            try:
                texts, probability, html_view, gate_figures, attention_figures = answer_all(runs, raw)
            except ZooError as error:
                raise gr.Error(str(error))
            return [*texts, probability, html_view, *gate_figures, *attention_figures]

        submit.click(respond, inputs=fields, outputs=[*answers, chart, extra, *gates, *attention])
        if isinstance(fields[0], gr.Textbox):
            fields[0].submit(respond, inputs=fields, outputs=[*answers, chart, extra, *gates, *attention])
    return blocks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or a sweep folder (its finished runs)")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    try:
        from zoo.predict import load, runs_of_one_task

        folders = runs_of_one_task(args.runs)
        try:
            import gradio as gr
        except ImportError:
            raise ZooError('the demo needs Gradio: pip install -e ".[demo]"') from None
        runs = [load(folder) for folder in folders]
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    import matplotlib

    matplotlib.use("Agg")
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    print(f"demo of {len(runs)} runs at http://127.0.0.1:{args.port}", flush=True)
    page(runs).launch(server_name="127.0.0.1", server_port=args.port, theme=theme, footer_links=[], quiet=True)


if __name__ == "__main__":
    main()
