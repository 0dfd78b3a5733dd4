"""task=frames: CoNLL-U reading, the tag sequences, masking of padded steps, and the per-tag report."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tasks import frames
from zoo import topologies
from zoo.errors import DataError
from zoo.runner import run

from conftest import model_config

DATA = Path(__file__).parent / "data"
SENTENCE = """# text = I can't go.
1-2	can't	_	_	_	_	_	_	_	_
1	I	I	PRON	PRP	_	3	nsubj	_	_
2	ca	can	AUX	MD	_	3	aux	_	_
3	go	go	VERB	VB	_	0	root	_	_
3.1	went	go	VERB	VBD	_	_	_	0:root	_
4	.	.	PUNCT	.	_	3	punct	_	_

"""


def test_reads_only_syntactic_words(tmp_path):
    (tmp_path / "s.conllu").write_text(SENTENCE)
    assert frames.read_conllu(tmp_path / "s.conllu", "upos") == [(["I", "ca", "go", "."],
                                                                  ["PRON", "AUX", "VERB", "PUNCT"])]
    assert frames.read_conllu(tmp_path / "s.conllu", "xpos")[0][1] == ["PRP", "MD", "VB", "."]


@pytest.mark.parametrize("content", ["", "1\tonly three\tcolumns\n\n"])
def test_malformed_conllu_is_named(tmp_path, content):
    (tmp_path / "bad.conllu").write_text(content)
    with pytest.raises(DataError, match="bad.conllu"):
        frames.read_conllu(tmp_path / "bad.conllu", "upos")


def test_tagset_is_checked_at_compose_time(make_config):
    assert make_config("task=frames", "task.tagset=xpos").task.tagset == frames.Tagset.xpos
    with pytest.raises(Exception) as error:
        make_config("task=frames", "task.tagset=pos")
    assert "Invalid value 'pos', expected one of [upos, xpos]" in str(error.value.__cause__)


def test_xpos_tags_are_penn_treebank():
    task = frames.Task(frames.Config(tagset=frames.Tagset.xpos), DATA, seed=0)
    task.load(batch_size=8)
    assert {"NN", "VBZ", "DT"} <= set(task.tags)


def test_excerpt_loads_with_one_tag_per_word():
    task = frames.Task(frames.Config(), DATA, seed=0)
    spec, splits = task.load(batch_size=8)
    assert splits.sizes == {"train": 60, "val": 20, "test": 20}
    assert spec.outputs == "tags" and spec.output_size == len(task.tags) and task.tags[0] == ""
    assert {"NOUN", "VERB", "PROPN", "PUNCT"} <= set(task.tags)
    assert spec.char_size == len(task.chars) and task.chars[:2] == ["", "[UNK]"]
    for (words, chars), y in splits.test:
        assert words.shape == y.shape and chars.shape[:2] == words.shape and chars.shape[2] <= 16
        assert np.all((words.numpy() == 0) == (y.numpy() == 0))  # padding in both, and only there
        assert np.all((chars.numpy()[:, :, 0] == 0) == (words.numpy() == 0))  # every word has its characters
    assert task.words[:2] == ["", "[UNK]"]


def test_long_words_keep_their_ends(tmp_path):
    long_word = "Supercalifragilisticexpialidocious"
    (tmp_path / "ud_english_ewt").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "ud_english_ewt" / f"en_ewt-ud-{split}.conllu").write_text(
            f"1\t{long_word}\t_\tADJ\tJJ\t_\t0\troot\t_\t_\n\n")
    task = frames.Task(frames.Config(word_chars=6), tmp_path, seed=0)
    _, splits = task.load(batch_size=1)
    (_, chars), _ = next(iter(splits.test))
    assert "".join(task.chars[i] for i in chars.numpy()[0, 0]) == "Supous"


def test_without_characters_the_input_is_the_words():
    task = frames.Task(frames.Config(chars=False), DATA, seed=0)
    spec, splits = task.load(batch_size=8)
    words, y = next(iter(splits.test))
    assert spec.char_size is None and words.shape == y.shape


def test_padded_steps_count_neither_in_loss_nor_accuracy():
    spec = frames.Spec(inputs="tokens", input_size=20, outputs="tags", output_size=5)
    model = topologies.synced(spec, "gru", model_config(units=8, bidirectional=True, embedding_dim=4))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = np.array([[3, 4, 5]]), np.array([[1, 2, 3]])
    unpadded = model.evaluate(x, y, verbose=0)
    padded = model.evaluate(np.pad(x, ((0, 0), (0, 4))), np.pad(y, ((0, 0), (0, 4))), verbose=0)
    np.testing.assert_allclose(unpadded, padded, rtol=1e-5)


@pytest.mark.parametrize("topology", ["synced", "seq2seq"])
def test_run_writes_macro_f1_and_the_per_tag_report(make_config, tmp_path, topology):
    metrics = run(make_config("task=frames", f"topology={topology}", "cell=lstm", "model.bidirectional=true",
                              "trainer.epochs=2"), tmp_path)
    assert metrics["topology"] == topology and 0 <= metrics["test"]["macro_f1"] <= 1
    report = json.loads((tmp_path / "per_tag.json").read_text())
    assert {"NOUN", "VERB", "macro avg"} <= set(report)
