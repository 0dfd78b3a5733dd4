"""A task defined here only, registered as a user would register theirs, with no edit anywhere else: it trains,
answers `zoo.predict`, and opens in the demo page, where headless Chromium types an input and reads the answer."""
from dataclasses import dataclass

import numpy as np
import pytest
from test_demo import chromium, missing, served

import tasks
from zoo import predict, runs
from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.runner import run
from zoo.task import InputForm, Splits, Task, TaskConfig, batched, class_answer, generated_sizes

tf = lazy_import("tensorflow")
keras = lazy_import("keras")

LETTERS = ["", "x", "y"]  # id 0 is padding


@dataclass
class MajorityConfig(TaskConfig):
    name: str = "majority"
    topology: str = "many_to_one"
    length: int = 9
    train_examples: int = 600


class Majority(Task):
    """A sequence of the letters x and y -> the one it holds more of."""

    inputs = "tokens"
    outputs = "class"
    form = InputForm(help="letters x and y, separated by spaces -> the one written more often", placeholder="x y y")

    def load(self, batch_size: int):
        rng = np.random.default_rng(self.seed)
        sizes = generated_sizes(self.cfg.train_examples, self.cfg.limit)
        data = {}
        for name, size in sizes.items():
            letters = rng.integers(1, 3, (size, self.cfg.length)).astype("int32")
            data[name] = letters, (np.sum(letters == 2, axis=1) > self.cfg.length / 2).astype("int32")
        self.test_data = data["test"]
        splits = [batched(tf.data.Dataset.from_tensor_slices(data[name]), sizes[name], batch_size, name == "train",
                          self.seed) for name in ("train", "val", "test")]
        return self.make_spec(input_size=len(LETTERS), output_size=2), Splits(*splits, sizes=sizes)

    def parse(self, text: str) -> list[int]:
        if not text.split() or set(text.split()) - {"x", "y"}:
            raise DataError(f"{text!r}: give letters x and y separated by spaces")
        return [LETTERS.index(letter) for letter in text.split()]

    def answer(self, run, sequences: list) -> list[dict]:
        probabilities = run.probabilities(keras.utils.pad_sequences(sequences, padding="post"))
        return [class_answer(["x", "y"], p) for p in probabilities]

    def test_inputs(self, count: int) -> list[tuple]:
        letters, labels = self.test_data
        return [(" ".join(LETTERS[i] for i in row), "xy"[label]) for row, label in zip(letters[:count], labels[:count])]


@pytest.fixture(scope="module")
def majority_run(tmp_path_factory):
    from conftest import ROOT, TINY
    from hydra import compose, initialize_config_dir

    tasks.register(MajorityConfig, Majority)
    folder = tmp_path_factory.mktemp("majority")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, "task=majority", "trainer.epochs=8", "model.units=16"])
    record = run(cfg, folder)
    yield folder, record
    tasks.unregister("majority")


def test_a_registered_task_trains_and_answers_predict(majority_run, capsys):
    folder, record = majority_run
    assert record["status"] == "ok" and record["task"] == "majority" and record["test"]["accuracy"] > 0.8
    predict.main([str(folder), "--input", "y y x y", "--input", "x x x y x"])
    out = capsys.readouterr().out
    assert "y (" in out.splitlines()[2] and "x (" in out.splitlines()[3]
    assert "majority" in predict.epilog() and "the one written more often" in predict.epilog()


def test_an_unregistered_task_is_not_there(make_config):
    with pytest.raises(Exception, match="Could not find 'task/nonesuch'"):
        make_config("task=nonesuch")


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_a_registered_task_opens_in_the_demo(majority_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    folder, _ = majority_run
    loaded = runs.load(folder)
    with served([loaded]) as address, chromium(tmp_path, window="1200,1200") as browser:
        browser.get(address)
        wait = WebDriverWait(browser, 90)
        box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#input-text textarea")))
        assert box.get_attribute("placeholder") == "x y y"
        box.send_keys("y y x y")
        browser.find_element(By.CSS_SELECTOR, "#submit").click()
        wait.until(lambda b: "%" in b.find_element(By.CSS_SELECTOR, "#answer-0").text)
        shown = browser.find_element(By.CSS_SELECTOR, "#answer-0").text
        assert "majority" in browser.page_source
    [expected] = loaded.predict(["y y x y"])
    assert shown.startswith(expected["label"]) and f"{expected['probability']:.1%}" in shown
