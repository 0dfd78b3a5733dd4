"""`python -m zoo.predict RUN [RUN ...] [--input TEXT ...] [--file FILE] [--example N ...] [--json] [options]`:
answer new input with trained runs, one column per run (a sweep folder means its finished runs).

Every finished run folder holds what reading new input needs: `model.keras`, and `predictor.json` with the
run's resolved config, the task's `Spec` and the task's saved state (vocabularies, tag lists, feature scaling).
`load(run_dir)` gives a `TrainedRun` whose `predict(inputs)` is what this command prints; the runner answers a
few test inputs through the same code at the end of training (predictions.jsonl in the run folder).
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo.errors import ZooError

PREDICTOR = "predictor.json"  # config, spec and the task's state: everything but the weights
PREDICTIONS = "predictions.jsonl"  # the run's answers to a few raw test inputs, with the right ones
TEST_INPUTS = 20


class TrainedRun:
    """A trained model with its task's saved state, answering raw inputs in the task's terms."""

    def __init__(self, run_dir: Path, cfg, task, spec, model):
        self.run_dir, self.cfg, self.task, self.spec, self.model = Path(run_dir), cfg, task, spec, model
        self.topology = cfg.topology_name

    @property
    def name(self) -> str:
        return f"{self.cfg.cell.name}-{self.topology}"

    @property
    def options(self) -> list[str]:
        """The options the task's `answer` takes (beam, steps, ...), after the run and the inputs."""
        return list(inspect.signature(self.task.answer).parameters)[2:]

    def predict(self, inputs: list, **options) -> list[dict]:
        """One dict of output fields per input (see each task's `answer`); text inputs are parsed first."""
        if not inputs:
            raise ZooError("no input given")
        for name in options:
            if name not in self.options:
                takes = ", ".join(f"--{option}" for option in self.options) or "none"
                raise ZooError(f"task={self.cfg.task.name} takes no --{name} option (it takes: {takes})")
        parsed = [self.task.parse(item) if isinstance(item, str) else item for item in inputs]
        return self.task.answer(self, parsed, **options)

    # what a task's `answer` calls: the engine's predict path
    def probabilities(self, batch):
        from zoo import topologies

        return topologies.probabilities(self.model, batch)

    def gate_trace(self, example) -> list[dict]:
        """Per step of one example (a batch of one): gate means and state norms of the first recurrent layer."""
        from zoo import topologies

        return topologies.gate_trace(self.model, example)

    def attention(self, source, output_ids: list[int]):
        """Attention weights (output steps x source steps) of one decoded example; None without attention."""
        from zoo import topologies

        return topologies.attention_weights(self.model, source, output_ids, self.spec)

    def ids(self, batch, beam_size: int = 1, exclude: tuple[int, ...] = ()):
        from zoo import topologies

        return topologies.predict(self.model, self.spec, self.topology, batch, beam_size=beam_size, exclude=exclude)


def save(run_dir: Path, cfg, task, spec) -> None:
    state = {"config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
             "spec": dataclasses.asdict(spec), "task": task.state()}
    (run_dir / PREDICTOR).write_text(json.dumps(state, ensure_ascii=False) + "\n")


def write_predictions(run: TrainedRun) -> None:
    """The run's answers to the first test inputs, beside the right answers, for comparing with `zoo.predict`."""
    pairs = run.task.test_inputs(TEST_INPUTS)
    answers = run.predict([raw for raw, _ in pairs]) if pairs else []
    with open(run.run_dir / PREDICTIONS, "w", encoding="utf-8") as f:
        for (raw, right), output in zip(pairs, answers):
            f.write(json.dumps({"input": as_json(raw), "output": output, "right": right}, ensure_ascii=False) + "\n")


def as_json(raw):
    from zoo.task import Example

    return {"example": raw.index} if isinstance(raw, Example) else raw


def check_run(run_dir: Path) -> dict:
    """The saved predictor state of a finished run; one line of why not otherwise, before any model loads."""
    record_path = run_dir / "metrics.json"
    if not record_path.is_file():
        raise ZooError(f"{run_dir} is not a run folder (it has no metrics.json)")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ZooError(f"{record_path} is unreadable: {e}") from None
    if record.get("status") != "ok":
        why = f": {record['error']}" if record.get("error") else ""
        raise ZooError(f"{run_dir} is not a finished run (status {record.get('status', 'unknown')}{why})")
    if not (run_dir / PREDICTOR).is_file():
        raise ZooError(f"{run_dir} predates saved preprocessing (no {PREDICTOR}): train it again to use it")
    if not (run_dir / "model.keras").is_file():
        raise ZooError(f"{run_dir} has no model.keras")
    return json.loads((run_dir / PREDICTOR).read_text())


def with_settings(config: dict, settings: list[str]):
    """A run's saved config with `task.KEY=VALUE` and `paths.data_dir=DIR` settings changed, and its task under
    them, checked against the task's Config; the model and trainer settings are what the weights were trained
    with, and stay."""
    import tasks

    for setting in settings:
        key, equals, _ = setting.partition("=")
        if not equals or key == "task.name" or not (key.startswith("task.") or key == "paths.data_dir"):
            raise ZooError(f"{setting}: only task.KEY=VALUE and paths.data_dir=DIR settings can change for a trained "
                           "run (its task, model and trainer are what it was trained with)")
    try:
        cfg = OmegaConf.merge(OmegaConf.create(config), OmegaConf.from_dotlist(list(settings)))
        return cfg, tasks.create(cfg)  # unknown keys, wrong types and bad values, before any model loads
    except OmegaConfBaseException as e:
        raise ZooError(str(e).strip().splitlines()[0]) from None


def load(run_dir, settings: list[str] = ()) -> TrainedRun:
    """A finished run folder as a `TrainedRun`, in a process that has never seen the training data; `settings`
    change its task's settings (see `with_settings`), e.g. task.beam_size=1."""
    run_dir = Path(run_dir)
    saved = check_run(run_dir)
    cfg, task = with_settings(saved["config"], settings)
    import keras

    from zoo import topologies  # noqa: F401  (defines the zoo's own layers, which the saved model names)
    from zoo.task import Spec

    spec = saved["spec"]
    spec = Spec(**{**spec, "image_shape": tuple(spec["image_shape"]) if spec["image_shape"] else None})
    task.restore(saved["task"])
    try:
        model = keras.models.load_model(run_dir / "model.keras")
    except Exception as e:  # a truncated or foreign file
        raise ZooError(f"{run_dir / 'model.keras'} cannot be loaded: {e}") from None
    return TrainedRun(run_dir, cfg, task, spec, model)


def run_folders(paths: list[str]) -> list[Path]:
    """Run folders as given; a folder that is no run itself but holds runs (a sweep) means its finished runs."""
    folders = []
    for given in map(Path, paths):
        if not given.is_dir() or (given / "metrics.json").exists():
            folders.append(given)
            continue
        finished = [p.parent for p in sorted(given.rglob("metrics.json"))
                    if json.loads(p.read_text()).get("status") == "ok"]
        if not finished:
            raise ZooError(f"{given} is not a run folder and holds no finished runs")
        folders.extend(finished)
    return folders


def runs_of_one_task(paths: list[str]) -> list[Path]:
    """The finished run folders that `paths` mean (see `run_folders`), all checked, refused unless one task's."""
    folders = run_folders(paths)
    names = {folder: check_run(folder)["config"]["task"]["name"] for folder in folders}
    if len(set(names.values())) > 1:
        first, counts = {}, Counter(names.values())
        for folder, name in names.items():
            first.setdefault(name, folder)
        raise ZooError("the runs are of different tasks (" + ", ".join(
            f"{name}: {counts[name]} run{'s' * (counts[name] > 1)}, e.g. {folder}" for name, folder in first.items())
            + "); give runs of one task")
    return folders


def read_inputs(args) -> list:
    from zoo.task import Example

    texts = list(args.input or [])
    if args.file:
        try:
            text = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            lines = text.decode("utf-8").splitlines()
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
    main, right = main_and_right(output)
    return main if right is None else f"{main} (right: {right})"


def main_and_right(output: dict) -> tuple[str, str | None]:
    """An answer's main field as text (tags joined by spaces), and the right answer where the task knows it
    (generated test examples)."""
    def text(value) -> str:
        return " ".join(value) if isinstance(value, list) else str(value)

    main = next(output[key] for key in ("tags", "text", "label", "value") if key in output)
    right = output.get("expected")
    return text(main), None if right is None else text(right)


def table(inputs: list, runs: list[TrainedRun], answers: list[list[dict]]) -> str:
    from tabulate import tabulate

    names = [run.name for run in runs]
    if len(set(names)) < len(names):  # the same cell and topology twice: tell them apart by folder
        names = [f"{name} ({run.run_dir.name})" for name, run in zip(names, runs)]
    rows = [[str(as_json(raw)), *(shown(column[i], raw) for column in answers)] for i, raw in enumerate(inputs)]
    return tabulate(rows, headers=["input", *names], tablefmt="simple", maxcolwidths=[50] + [40] * len(runs))


EPILOG = """inputs, by task:
  imdb         a review's text -> label, its probability and each label's
  bp           age=52 gender=1 height=168 weight=81 cholesterol=1 gluc=1 smoke=0 alco=0 active=1
               (age in years; gender 1 woman, 2 man; height cm; weight kg; cholesterol and gluc 1 normal,
               2 above normal, 3 well above; smoke, alco, active 0 no, 1 yes) -> category and each one's probability
  pos          a sentence, words separated by spaces as in the treebank -> a tag per word
  translation  a sentence -> its translation (--beam N)
  captioning   a PNG or JPEG file (resized to the task's images), or --example N -> a caption (--beam N)
  shakespeare  a prompt -> its continuation (--length, --temperature, --seed)
  memory       --example N (a generated test sequence) -> the answer and the right one
  video        --example N (a generated test clip) -> the digit shown last at every frame, and the right ones
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.predict", description=__doc__.split("\n\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or a sweep folder (its finished runs)")
    parser.add_argument("--input", action="append", metavar="TEXT", help="an input (repeatable)")
    parser.add_argument("--file", metavar="FILE", help="one input a line; - reads standard input")
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
        folders = runs_of_one_task(args.runs)  # every folder checked before any model loads
        inputs = read_inputs(args)
        runs = [load(folder) for folder in folders]
        answers = [run.predict(inputs, **options(args)) for run in runs]
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    if args.json:
        for i, raw in enumerate(inputs):
            for folder, column in zip(folders, answers):
                print(json.dumps({"run": str(folder), "input": as_json(raw), "output": column[i]}, ensure_ascii=False))
    else:
        print(table(inputs, runs, answers))


if __name__ == "__main__":
    main()
