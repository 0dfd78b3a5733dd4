"""task=shakespeare: character windows, sampling, the TFDS builder offline, and a short run from the excerpt."""
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import model_config

from tasks import shakespeare
from zoo import topologies
from zoo.cells import CELLS
from zoo.errors import DataError, IncompatibleTopology
from zoo.runner import run
from zoo.task import Spec

EXCERPT = ["task=shakespeare", "task.text_file=tinyshakespeare_excerpt.txt", "task.seq_len=40", "task.sample_chars=30"]
SHARED_TEXT = Path(os.environ.get("ZOO_DATA_DIR", "data")) / shakespeare.SOURCE


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = shakespeare.Vocabulary("to be or not")
    ids = vocabulary.encode("not to be")
    assert ids.min() > shakespeare.UNKNOWN and vocabulary.decode(ids) == "not to be"
    assert vocabulary.encode("z")[0] == shakespeare.UNKNOWN and len(vocabulary) == 2 + len(set("to be or not"))


def test_windows_predict_the_next_character():
    ids = np.arange(3, 26)
    inputs, targets = shakespeare.windows(ids, seq_len=5, limit=None)
    assert inputs.shape == targets.shape == (4, 5)
    np.testing.assert_array_equal(targets, inputs + 1)
    np.testing.assert_array_equal(inputs.ravel(), ids[:20])  # consecutive, non-overlapping windows
    with pytest.raises(DataError, match="fewer than task.seq_len"):
        shakespeare.windows(ids[:5], seq_len=5, limit=None)


@pytest.mark.parametrize("content,message", [
    (b"", "empty.txt is empty"),
    (b"  \n\n", "empty.txt is empty"),
    ("caf\xe9 au lait\n".encode("latin-1") * 50, "empty.txt is not UTF-8 text"),
    (b"too short", "the train part of .*empty.txt has 8 characters, fewer than task.seq_len=100 \\+ 1"),
])
def test_a_bad_text_file_is_named(tmp_path, content, message):
    (tmp_path / "empty.txt").write_bytes(content)
    task = shakespeare.Task(shakespeare.Config(text_file=str(tmp_path / "empty.txt")), tmp_path, seed=0)
    with pytest.raises(DataError, match=message):
        task.load(batch_size=4)


def test_text_is_split_in_order_like_the_builder():
    parts = shakespeare.split_text("x" * 1000)
    assert [len(parts[s]) for s in ("train", "validation", "test")] == [900, 50, 50]


def test_sampling_continues_the_prompt_with_real_characters():
    spec = Spec(inputs="tokens", input_size=12, outputs="next", output_size=12)
    model = topologies.synced(spec, "gru", model_config(units=8))
    ids, chosen = shakespeare.sample(model, np.array([5, 6, 7]), length=20, temperature=0.8, context=4,
                                     rng=np.random.default_rng(0))
    assert ids[:3] == [5, 6, 7] and len(ids) == 23 and len(chosen) == 20 and all(0 < p <= 1 for p in chosen)
    assert min(ids) > shakespeare.UNKNOWN and max(ids) < 12
    # sampling pads short contexts on the left: the mask must make that the same as no padding
    np.testing.assert_allclose(model.predict_on_batch(np.array([[0, 0, 5, 6, 7]]))[0, -1],
                               model.predict_on_batch(np.array([[5, 6, 7]]))[0, -1], atol=1e-5)


def test_a_language_model_may_not_see_ahead(make_config, tmp_path):
    with pytest.raises(IncompatibleTopology, match="task=shakespeare cannot use topology=seq2seq.*valid: synced"):
        run(make_config(*EXCERPT, "topology=seq2seq"), tmp_path)


@pytest.mark.parametrize("cell", CELLS)
def test_short_run_from_the_excerpt_learns_and_writes_samples(make_config, tmp_path, cell):
    metrics = run(make_config(*EXCERPT, f"cell={cell}", "model.units=64", "trainer.epochs=3",
                              "trainer.learning_rate=0.01"), tmp_path)
    uniform = math.log(metrics["characters"] + 2)
    assert metrics["test"]["loss"] < uniform - 0.8  # nats/char, well below guessing among the characters
    samples = (tmp_path / "samples.txt").read_text()
    assert samples.count("=== epoch") == 3 and "ROMEO:" in samples


def test_a_missing_text_file_is_named(make_config, tmp_path):
    with pytest.raises(DataError, match="task.text_file: .*nowhere.txt does not exist"):
        run(make_config("task=shakespeare", "task.text_file=nowhere.txt"), tmp_path)


def test_a_different_input_txt_is_refused(tmp_path):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / shakespeare.SOURCE).write_text("To be, or not to be\n")
    task = shakespeare.Task(shakespeare.Config(tfds_dir=str(tmp_path / "tfds")), tmp_path, seed=0)
    with pytest.raises(DataError, match="input.txt is corrupt or a different version"):
        task.load(batch_size=8)


@pytest.mark.skipif(not SHARED_TEXT.is_file(), reason="needs the full tinyshakespeare/input.txt in $ZOO_DATA_DIR")
def test_the_tfds_builder_prepares_offline_from_the_local_file(tmp_path):
    texts = shakespeare.tiny_shakespeare(SHARED_TEXT.parents[1], tmp_path)
    assert [len(texts[s]) for s in ("train", "validation", "test")] == [1003854, 55770, 55770]
    assert texts["train"].startswith("First Citizen:")
