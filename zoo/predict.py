"""`python -m zoo.predict RUN [RUN ...] [--input TEXT ...] [--file FILE] [--example N ...] [--json] [options]`:
answer new input with trained runs, one column per run (a sweep folder means its finished runs).

The runs are read by the run-folder library (`zoo.runs`): `zoo.load(run_dir).predict(inputs)` gives in Python what
this command prints. A damaged run inside a sweep folder is named on stderr and skipped while the others answer;
the exit status is then 3 (1 when nothing could answer).
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from zoo.data import text_lines
from zoo.errors import ZooError
from zoo.runs import TrainedRun, answer_text, as_json, find_runs, load_runs

SKIPPED_RUNS = 3  # the exit status when some runs of a sweep folder were skipped as damaged and the rest answered


def read_inputs(args, whole_file: bool = False) -> list:
    """The inputs given: --input texts, --file's lines (or, for a task whose input is a file, its path), then
    --example numbers."""
    from zoo.task import Example

    texts = list(args.input or [])
    if args.file and whole_file:
        if args.file == "-" or not Path(args.file).is_file():
            raise ZooError(f"--file {args.file} is not a file (this task reads a whole file as one input)")
        texts.append(args.file)
    elif args.file:
        try:
            text = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            lines = text_lines(text.decode("utf-8"))
        except OSError as e:
            raise ZooError(f"--file {args.file}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise ZooError(f"--file {args.file} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise ZooError(f"--file {args.file} has no inputs (one input a line)")
        texts += lines
    for number, text in enumerate(texts, 1):
        if not text.strip():
            raise ZooError(f"input {number} is empty")
    inputs = [*texts, *(Example(n) for n in args.example or [])]
    if not inputs:
        raise ZooError("no input: give --input TEXT, --file FILE (- for stdin) or --example N")
    return inputs


def options(args) -> dict:
    given = {"beam": args.beam, "length": args.length, "temperature": args.temperature, "seed": args.seed,
             "steps": args.steps or None}
    return {name: value for name, value in given.items() if value is not None}


def shown(output: dict, raw) -> str:
    """One answer as a table cell."""
    if "probability" in output:
        return f"{output['label']} ({output['probability']:.2f})"
    if "tags" in output and isinstance(raw, str):  # a tag per word of the input
        return " ".join(f"{word}/{tag}" for word, tag in zip(raw.split(), output["tags"]))
    main, right = answer_text(output)
    return main if right is None else f"{main} (right: {right})"


def table(inputs: list, runs: list[TrainedRun], answers: list[list[dict]]) -> str:
    from tabulate import tabulate

    names = [run.name for run in runs]  # told apart by folder where a cell and topology repeat (runs.load_runs)
    rows = [[str(as_json(raw)), *(shown(column[i], raw) for column in answers)] for i, raw in enumerate(inputs)]
    return tabulate(rows, headers=["input", *names], tablefmt="simple", maxcolwidths=[50] + [40] * len(runs))


def epilog() -> str:
    """What each task takes as input and answers, from the tasks' own forms."""
    import tasks

    lines = ["inputs, by task:"]
    for name in tasks.names():
        help_text = tasks.module(name).Task.form.help
        lines += textwrap.wrap(help_text, 112, initial_indent=f"  {name:<13}", subsequent_indent=" " * 15)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.predict", description=__doc__.split("\n\n")[0],
                                     epilog=epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or a sweep folder (its finished runs)")
    parser.add_argument("--input", action="append", metavar="TEXT", help="an input (repeatable)")
    parser.add_argument("--file", metavar="FILE", help="one input a line (- reads standard input); for a task that "
                        "reads a whole file (forecast: a CSV), that file")
    parser.add_argument("--example", action="append", type=int, metavar="N", help="the N-th generated test example")
    parser.add_argument("--json", action="store_true", help="one JSON object a line: run, input, output")
    parser.add_argument("--beam", type=int, metavar="N", help="beam width (translation, captioning)")
    parser.add_argument("--length", type=int, metavar="N", help="characters to generate (shakespeare)")
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (shakespeare)")
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (shakespeare)")
    parser.add_argument("--steps", action="store_true",
                        help="per-step views in the JSON: probabilities after each word, gates and state norms, "
                             "attention weights, each generated character's probability")
    args = parser.parse_args(argv)
    try:
        found = find_runs(args.runs)  # every folder checked before any model loads
        inputs = read_inputs(args, found.task.form.whole_file)
        runs, skipped = load_runs(found)
        answers = [run.predict(inputs, **options(args)) for run in runs]
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    for run in skipped:
        print(f"skipped: {run.why}", file=sys.stderr)
    if args.json:
        for i, raw in enumerate(inputs):
            for run, column in zip(runs, answers):
                print(json.dumps({"run": str(run.run_dir), "input": as_json(raw), "output": column[i]},
                                 ensure_ascii=False))
    else:
        print(table(inputs, runs, answers))
    if skipped:
        sys.exit(SKIPPED_RUNS)


if __name__ == "__main__":
    main()
