"""The run-folder library: what a finished run folder holds for using the model on new input, how it is saved
and read back, and `TrainedRun`, the trained model answering raw input in its task's terms.

Every finished run folder holds `model.keras`, `metrics.json` and `predictor.json`: the run's resolved config,
the task's `Spec` and the task's saved state (vocabularies, tag lists, feature scaling), with the layout's
`format` number. `load(run_dir)` gives a `TrainedRun`; the runner answers a few test inputs through the same
`TrainedRun.predict` at the end of training (predictions.jsonl), and `zoo.predict`, `zoo.evaluate`,
`zoo.export` and `zoo.demo` read run folders only through here, so a damaged folder is refused in one line
wherever it is read.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo.errors import ZooError

PREDICTOR = "predictor.json"  # config, spec and the task's state: everything but the weights
PREDICTIONS = "predictions.jsonl"  # the run's answers to a few raw test inputs, with the right ones
MODEL = "model.keras"
RECORD = "metrics.json"
TEST_INPUTS = 20
# predictor.json's layout: 1 (no "format" key) until the run library; 2 adds "format" and a config whose trainer
# settings are complete; 3 moves the optimizer's settings from the trainer to their own group. `upgrade` brings
# older layouts to this one.
FORMAT = 4


class Unfinished(ZooError):
    """A run folder whose run failed or has not finished (yet)."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class TrainedRun:
    """A trained model with its task's saved state, answering raw inputs in the task's terms."""

    def __init__(self, run_dir: Path, cfg, task, spec, model):
        self.run_dir, self.cfg, self.task, self.spec, self.model = Path(run_dir), cfg, task, spec, model
        self.topology = cfg.topology_name
        self.name = f"{cfg.cell.name}-{self.topology}"  # what tables and pages call it (see `distinct_names`)

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
        from zoo import decoding

        return decoding.probabilities(self.model, batch)

    def gate_trace(self, example) -> list[dict]:
        """Per step of one example (a batch of one): gate means and state norms of the first recurrent layer."""
        from zoo import introspect

        return introspect.gate_trace(self.model, example, self.cfg.cell.name)

    def attention(self, source, output_ids: list[int]):
        """Attention weights (output steps x source steps) of one decoded example; None without attention."""
        from zoo import introspect

        return introspect.attention_weights(self.model, source, output_ids, self.spec)

    def ids(self, batch, beam_size: int = 1, exclude: tuple[int, ...] = ()):
        from zoo import decoding

        return decoding.predict(self.model, self.spec, self.topology, batch, beam_size=beam_size, exclude=exclude)


def save(run_dir: Path, cfg, task, spec) -> None:
    state = {"format": FORMAT, "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
             "spec": dataclasses.asdict(spec), "task": task.state()}
    (run_dir / PREDICTOR).write_text(json.dumps(state, ensure_ascii=False) + "\n")


def upgrade(saved: dict) -> dict:
    """predictor.json of any earlier layout in this one: trainer settings added since the run was saved take
    their defaults (conf/trainer/default.yaml), as the run trained without them."""
    version = saved.get("format", 1)
    if version > FORMAT:
        raise ZooError(f"{PREDICTOR} has layout {version}, newer than this zoo reads ({FORMAT}): update the zoo")
    config = saved["config"]
    if version < 2:
        from zoo.config import CONF_DIR

        defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "trainer" / "default.yaml"))
        config["trainer"] = {"sparse_updates": False, "weight_decay": 0.0, **defaults, **config["trainer"]}
    if version < 3:  # trainer.sparse_updates and trainer.weight_decay were the optimizer group's settings
        lazy, decay = config["trainer"].pop("sparse_updates"), config["trainer"].pop("weight_decay")
        config["optimizer"] = {"name": "lazy_adam" if lazy else "adamw" if decay else "adam", "weight_decay": decay}
    if version < 4:  # trainer.tensorboard became the logger group
        config["logger"] = {"mlflow": None, "tensorboard": config["trainer"].pop("tensorboard", False)}
    return {**saved, "format": FORMAT}


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


def answer_text(output: dict) -> tuple[str, str | None]:
    """An answer's main field as text (tags, or forecast values to 4 digits, joined by spaces), and the right
    answer where the task knows it (generated test examples, test windows)."""
    def text(value) -> str:
        if isinstance(value, list):
            return " ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
        return str(value)

    main = next(output[key] for key in ("tags", "text", "label", "value", "forecast") if key in output)
    right = output.get("expected")
    return text(main), None if right is None else text(right)


def read_json(path: Path) -> dict:
    """A JSON object from a run folder; a missing, unreadable, truncated or foreign file as one line."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{path.parent} has no {path.name}") from None
    except OSError as e:
        raise ZooError(f"{path} is unreadable: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooError(f"{path} is damaged (not JSON: {e}); train the run again") from None
    if not isinstance(value, dict):
        raise ZooError(f"{path} is damaged (not a JSON object); train the run again")
    return value


def check_run(run_dir: Path) -> dict:
    """The saved predictor state of a finished run, in today's layout; one line of why not otherwise, before any
    model loads."""
    if not (run_dir / RECORD).is_file():
        raise ZooError(f"{run_dir} is not a run folder (it has no {RECORD})")
    record = read_json(run_dir / RECORD)
    if record.get("status") != "ok":
        why = f": {record['error']}" if record.get("error") else ""
        still = " (still training, or killed: run its command again to finish it)" \
            if record.get("status") == "running" else ""
        raise Unfinished(f"{run_dir} is not a finished run (status {record.get('status', 'unknown')}{why}){still}",
                         record.get("status"))
    if not (run_dir / PREDICTOR).is_file():
        raise ZooError(f"{run_dir} predates saved preprocessing (no {PREDICTOR}): train it again to use it")
    if not (run_dir / MODEL).is_file():
        raise ZooError(f"{run_dir} has no {MODEL}")
    saved = read_json(run_dir / PREDICTOR)
    if not {"config", "spec", "task"} <= set(saved):
        raise ZooError(f"{run_dir / PREDICTOR} is damaged (it lacks config, spec or task); train the run again")
    return upgrade(saved)


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


def load(run_dir, settings: list[str] = (), saved: dict | None = None) -> TrainedRun:
    """A finished run folder as a `TrainedRun`, in a process that has never seen the training data; `settings`
    change its task's settings (see `with_settings`), e.g. task.beam_size=1. `saved` is its predictor state where
    `check_run` read it already."""
    run_dir = Path(run_dir)
    saved = saved or check_run(run_dir)
    cfg, task = with_settings(saved["config"], settings)
    import keras

    from zoo import layers  # noqa: F401  (the zoo's own layers and the registered cells, which the model names)
    from zoo.task import Spec

    try:
        spec = Spec.from_json(saved["spec"])
        task.restore(saved["task"])
    except (TypeError, KeyError, ValueError) as e:
        raise ZooError(f"{run_dir / PREDICTOR} is damaged ({type(e).__name__}: {e}); train the run again") from None
    try:
        model = keras.models.load_model(run_dir / MODEL)
    except Exception as e:  # a truncated or foreign file
        raise ZooError(f"{run_dir / MODEL} cannot be loaded: {str(e).strip().splitlines()[0] if str(e) else e!r}") \
            from None
    return TrainedRun(run_dir, cfg, task, spec, model)


@dataclasses.dataclass
class Skipped:
    """A run inside a sweep folder that cannot answer (a damaged file), named and passed over."""

    run_dir: Path
    why: str


@dataclasses.dataclass
class Found:
    """The usable runs that paths mean, all of one task, each with its checked predictor state (in the order
    given; a run given twice answers twice), the runs given by name (these must load), and a sweep's damaged or
    unfinished runs, named and passed over."""

    saved: list[tuple[Path, dict]]
    named: set[Path]
    skipped: list[Skipped]

    @property
    def task(self):
        """The runs' `Task` class, known before any model loads."""
        import tasks

        return tasks.module(self.saved[0][1]["config"]["task"]["name"]).Task


def find_runs(paths: list[str]) -> Found:
    """Run folders as given; a folder that is no run itself but holds runs (a sweep) means its finished runs.
    Runs given by name must be usable (one line of why not); a sweep's failed jobs are left out, and its damaged
    or unfinished runs are skipped and named, unless none of its runs is usable. Runs of different tasks are
    refused."""
    def is_run(folder: Path) -> bool:  # any of a run's files: a run, maybe damaged
        return any((folder / name).exists() for name in (RECORD, PREDICTOR, MODEL))

    found = Found([], set(), [])
    for given in map(Path, paths):
        if not given.is_dir() or is_run(given):
            found.saved.append((given, check_run(given)))
            found.named.add(given)
            continue
        usable, damaged = [], []
        for folder in sorted({path.parent for name in (RECORD, PREDICTOR, MODEL) for path in given.rglob(name)}):
            try:
                usable.append((folder, check_run(folder)))
            except ZooError as error:
                if not (isinstance(error, Unfinished) and error.status == "failed"):
                    damaged.append(Skipped(folder, str(error)))
        if not usable:
            if damaged:
                raise ZooError(f"{given} holds no usable run: {damaged[0].why}"
                               + (f" (and {len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""))
            raise ZooError(f"{given} is not a run folder and holds no finished runs")
        found.saved.extend(usable)
        found.skipped.extend(damaged)
    names = {folder: saved["config"]["task"]["name"] for folder, saved in found.saved}
    if len(set(names.values())) > 1:
        first, counts = {}, Counter(names.values())
        for folder, name in names.items():
            first.setdefault(name, folder)
        raise ZooError("the runs are of different tasks (" + ", ".join(
            f"{name}: {counts[name]} run{'s' * (counts[name] > 1)}, e.g. {folder}" for name, folder in first.items())
            + "); give runs of one task")
    return found


def distinct_names(runs: list[TrainedRun]) -> None:
    """Where two runs share a cell and topology, each is named by its folder as well, so columns, legends and
    headers tell them apart."""
    names = [run.name for run in runs]
    if len(set(names)) < len(names):
        for run in runs:
            run.name = f"{run.name} ({run.run_dir.name})"


def load_runs(found: Found) -> tuple[list[TrainedRun], list[Skipped]]:
    """Every run `find_runs` found, loaded: a run given by name that cannot load is one line of why; a sweep's
    run whose model cannot load is skipped and named like its other damaged runs."""
    runs, skipped = [], list(found.skipped)
    for folder, saved in found.saved:
        try:
            runs.append(load(folder, saved=saved))
        except ZooError as error:
            if folder in found.named:
                raise
            skipped.append(Skipped(folder, str(error)))
    if not runs:
        raise ZooError(f"no run could be loaded: {skipped[0].why}")
    distinct_names(runs)
    return runs, skipped
