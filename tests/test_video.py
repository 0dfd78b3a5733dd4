"""task=video: clips of digit frames, the per-frame CNN, what memory buys over cell=none, and bad settings."""
import numpy as np
import pytest
from conftest import model_config

from tasks import video
from zoo import topologies
from zoo.cells import CELLS
from zoo.errors import ZooError
from zoo.rules import checked
from zoo.runner import run
from zoo.task import uci_digits

TINY = ["trainer.epochs=1", "trainer.limit_batches=2", "task.train_examples=64", "task.frames=6", "task.gap=2",
        "model.units=8"]


def test_every_frame_is_labelled_with_the_digit_shown_last():
    rng = np.random.default_rng(0)
    images = np.stack([np.full((8, 8), d / 10) for d in range(10)])  # digit d: every pixel d / 10
    clips, last = video.clips(images, np.arange(10), count=50, frames=7, gap=2, rng=rng)
    assert clips.shape == (50, 7, 8, 8, 1) and last.shape == (50, 7)
    for clip, labels in zip(clips, last):
        for start in (0, 3, 6):  # a digit every gap + 1 frames, noise between
            np.testing.assert_allclose(clip[start, :, :, 0], labels[start] / 10, rtol=1e-6)
            assert np.all(labels[start:start + 3] == labels[start])
        assert clip[[1, 2, 4, 5]].max() <= video.NOISE


def test_test_clips_show_only_test_digit_images():
    task = video.Task(video.Config(frames=6, gap=2, limit=30), "unused", seed=3)
    test_pool = {image.astype("float32").tobytes() for image in uci_digits(3)["test"][0]}
    clips, _ = task.generate()["test"]
    assert all(clip[start, :, :, 0].tobytes() in test_pool for clip in clips for start in (0, 3))


def test_the_frame_pipeline_has_the_shapes_of_a_clip(make_config):
    task = video.Task(video.Config(frames=6, gap=2, limit=16), "unused", seed=0)
    spec, splits = task.load(batch_size=8)
    x, y = next(iter(splits.train))
    assert x.shape == (8, 6, 8, 8, 1) and y.shape == (8, 6) and spec.output_size == 11
    assert y.numpy().min() >= 1  # digit + 1: no frame is padding
    for cell in [*CELLS, "none"]:
        model = topologies.build("synced", spec, cell, model_config())
        assert model(x).shape == (8, 6, 11)
    clip_task = video.Task(video.Config(frames=6, gap=2, limit=16, label=video.Label.clip), "unused", seed=0)
    spec, splits = clip_task.load(batch_size=8)
    x, y = next(iter(splits.train))
    assert y.shape == (8,) and topologies.build("many_to_one", spec, "gru", model_config())(x).shape == (8, 10)


@pytest.mark.parametrize("cell", [*CELLS, "none"])
@pytest.mark.parametrize("topology,label", [("synced", "frame"), ("many_to_one", "clip")])
def test_every_cell_and_topology_trains_a_short_epoch(make_config, tmp_path, cell, topology, label):
    record = run(make_config("task=video", f"cell={cell}", f"topology={topology}", f"task.label={label}", *TINY),
                 tmp_path)
    assert record["status"] == "ok" and 0 <= record["test"]["accuracy"] <= 1


def test_memory_beats_the_memoryless_ceiling_that_cell_none_cannot(make_config, tmp_path):
    """Frames 6, gap 2: a digit on frames 0 and 3 only, so without memory at most 1/3 + 2/3 * 1/10 = 0.4."""
    settings = ["task=video", "task.frames=6", "task.gap=2", "task.train_examples=2000", "model.units=32",
                "trainer.epochs=6", "trainer.learning_rate=0.005", "trainer.patience=6"]
    ceiling = video.memoryless_ceiling(6, 2)
    assert ceiling == pytest.approx(0.4)
    (tmp_path / "none").mkdir(), (tmp_path / "gru").mkdir()
    memoryless = run(make_config(*settings, "cell=none"), tmp_path / "none")
    gru = run(make_config(*settings, "cell=gru"), tmp_path / "gru")
    assert memoryless["baseline_accuracy"] == pytest.approx(ceiling) and memoryless["distance"] == 2
    assert memoryless["test"]["accuracy"] <= ceiling + 0.02  # sampling noise of the digits shown
    assert memoryless["test"]["accuracy"] > 0.3  # yet it does read the frames that show a digit
    assert gru["test"]["accuracy"] > ceiling + 0.3


@pytest.mark.parametrize("overrides,line", [
    (["task.frames=0"], "task.frames must be > 0, got 0"),
    (["task.frames=5", "task.gap=5"], "task.gap=5 does not fit a clip of task.frames=5: a clip shows a digit "
                                      "first, so gap must be below frames"),
    (["task.gap=-1"], "task.gap must be >= 0, got -1"),
    (["topology=many_to_one"], "task=video cannot use topology=many_to_one (video in, tags out); valid: synced"),
    (["cell=none", "model.bidirectional=true"], "cell=none (no recurrence: a Dense layer per step) is for "
                                                "topology=synced or many_to_one, one direction; not topology=synced "
                                                "with model.bidirectional=true"),
])
def test_bad_settings_are_one_line(make_config, overrides, line):
    with pytest.raises(ZooError) as error:
        checked(make_config("task=video", *overrides))
    assert str(error.value) == line


def test_cell_none_is_refused_where_a_decoder_needs_a_state(make_config):
    with pytest.raises(ZooError, match="cell=none .* not topology=seq2seq"):
        checked(make_config("task=translation", "cell=none"))
