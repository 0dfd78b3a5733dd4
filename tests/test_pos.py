"""task=pos: CoNLL-U reading, the tag sequences, masking of padded steps, and the per-tag report."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TEST_DATA, model_config
from omegaconf import OmegaConf

from tasks import pos
from zoo import decoding, topologies
from zoo.errors import DataError
from zoo.runner import run
from zoo.task import Spec

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
    assert pos.read_conllu(tmp_path / "s.conllu", "upos") == [(["I", "ca", "go", "."],
                                                                  ["PRON", "AUX", "VERB", "PUNCT"])]
    assert pos.read_conllu(tmp_path / "s.conllu", "xpos")[0][1] == ["PRP", "MD", "VB", "."]


@pytest.mark.parametrize("content", ["", "1\tonly three\tcolumns\n\n"])
def test_malformed_conllu_is_named(tmp_path, content):
    (tmp_path / "bad.conllu").write_text(content)
    with pytest.raises(DataError, match="bad.conllu"):
        pos.read_conllu(tmp_path / "bad.conllu", "upos")


def test_tagset_is_checked_at_compose_time(make_config):
    assert make_config("task=pos", "task.tagset=xpos").task.tagset == pos.Tagset.xpos
    with pytest.raises(Exception) as error:
        make_config("task=pos", "task.tagset=pos")
    assert "Invalid value 'pos', expected one of [upos, xpos]" in str(error.value.__cause__)


def test_xpos_tags_are_penn_treebank():
    task = pos.Task(pos.Config(tagset=pos.Tagset.xpos), DATA, seed=0)
    task.load(batch_size=8)
    assert {"NN", "VBZ", "DT"} <= set(task.tags)


def test_excerpt_loads_with_one_tag_per_word():
    task = pos.Task(pos.Config(), DATA, seed=0)
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
    task = pos.Task(pos.Config(word_chars=6), tmp_path, seed=0)
    _, splits = task.load(batch_size=1)
    (_, chars), _ = next(iter(splits.test))
    assert "".join(task.chars[i] for i in chars.numpy()[0, 0]) == "Supous"


def test_without_characters_the_input_is_the_words():
    task = pos.Task(pos.Config(chars=False), DATA, seed=0)
    spec, splits = task.load(batch_size=8)
    words, y = next(iter(splits.test))
    assert spec.char_size is None and words.shape == y.shape


def test_building_the_character_encoder_while_a_model_loads_leaves_no_shared_layer_behind():
    """load_model shares objects by their address (Keras's ObjectSharingScope). A layer left in that table is given
    to any later layer that happens to get the same address: the tagger's own bidirectional layer then received a
    backward GRU as its forward one and the run failed to load, now and then."""
    from keras.src.backend.common import global_state
    from keras.src.saving.serialization_lib import ObjectSharingScope

    from zoo.layers import CharacterEncoder

    with ObjectSharingScope():
        encoder = CharacterEncoder("gru", char_size=10, units=4)
        assert global_state.get_global_attribute("shared_objects/id_to_obj_map") == {}
    assert (encoder.rnn.forward_layer.go_backwards, encoder.rnn.backward_layer.go_backwards) == (False, True)


def test_padded_steps_count_neither_in_loss_nor_accuracy():
    spec = Spec(inputs="tokens", input_size=20, outputs="tags", output_size=5)
    model = topologies.synced(spec, "gru", model_config(units=8, bidirectional=True, embedding_dim=4))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = np.array([[3, 4, 5]]), np.array([[1, 2, 3]])
    unpadded = model.evaluate(x, y, verbose=0)
    padded = model.evaluate(np.pad(x, ((0, 0), (0, 4))), np.pad(y, ((0, 0), (0, 4))), verbose=0)
    np.testing.assert_allclose(unpadded, padded, rtol=1e-5)


@pytest.mark.parametrize("topology", ["synced", "seq2seq"])
def test_run_writes_macro_f1_and_the_per_tag_report(make_config, tmp_path, topology):
    metrics = run(make_config("task=pos", f"topology={topology}", "cell=lstm", "model.bidirectional=true",
                              "trainer.epochs=2"), tmp_path)
    assert metrics["topology"] == topology and 0 <= metrics["test"]["macro_f1"] <= 1
    report = json.loads((tmp_path / "per_tag.json").read_text())
    assert {"NOUN", "VERB", "macro avg"} <= set(report)


@pytest.fixture
def default_pos(make_config):
    """The default pos config (characters on, a bidirectional tagger of the default size) on the excerpt."""
    def make(*overrides: str):
        sizes = ["model.units=128", "model.embedding_dim=100", "trainer.batch_size=64"]  # undo conftest's TINY
        return make_config("task=pos", *sizes, *overrides)
    return make


def sentences(splits, count: int):
    """The first `count` test sentences, each as its own (words, characters) and tags, unpadded."""
    (words, chars), tags = next(iter(splits.test.unbatch().batch(count)))
    out = []
    for w, c, t in zip(words.numpy(), chars.numpy(), tags.numpy()):
        n = int((w != 0).sum())
        out.append(((w[None, :n], c[None, :n, :int((c[:n] != 0).sum(axis=1).max())]), t[None, :n]))
    return out


def batch_of(examples):
    """Sentences padded to the longest (words, characters and tags), as `batched` pads them (to a bucket's length)."""
    width = max(x[0].shape[1] for x, _ in examples)
    chars = max(x[1].shape[2] for x, _ in examples)
    words = np.concatenate([np.pad(x[0], ((0, 0), (0, width - x[0].shape[1]))) for x, _ in examples])
    letters = np.concatenate([np.pad(x[1], ((0, 0), (0, width - x[1].shape[1]), (0, chars - x[1].shape[2])))
                              for x, _ in examples])
    tags = np.concatenate([np.pad(t, ((0, 0), (0, width - t.shape[1]))) for _, t in examples])
    return (words, letters), tags


@pytest.mark.parametrize("topology", ["synced", "seq2seq"])
def test_a_sentence_gets_the_same_tags_and_loss_alone_and_among_longer_ones(default_pos, topology):
    cfg = default_pos(f"topology={topology}")
    task = pos.Task(OmegaConf.to_object(cfg.task), TEST_DATA, seed=0)
    spec, splits = task.load(batch_size=64)
    keras.utils.set_random_seed(0)
    model = topologies.build(topology, spec, "gru", OmegaConf.to_object(cfg.model))
    model.compile(loss=task.loss(), metrics=["accuracy"])
    examples = sorted(sentences(splits, 8), key=lambda e: e[1].shape[1])
    short, longer = examples[0], examples[1:]
    assert short[1].shape[1] < longer[-1][1].shape[1]
    (words, chars), tags = batch_of([short, *longer])

    def loss(x, y):
        data = tf.data.Dataset.from_tensors((x, y))
        return model.evaluate(decoding.model_data(topology, data, spec), verbose=0)[0]

    np.testing.assert_array_equal(decoding.predict(model, spec, topology, short[0])[0],
                                  decoding.predict(model, spec, topology, (words, chars))[0, :short[1].shape[1]])
    # the batch's loss is the mean over its real words: each sentence adds its own words' loss, padding none
    real_words = [y.shape[1] for _, y in examples]
    alone = [loss(x, y) for x, y in examples]
    np.testing.assert_allclose(loss((words, chars), tags), np.dot(alone, real_words) / sum(real_words), rtol=1e-4)


@pytest.mark.parametrize("topology", ["synced", "seq2seq"])
def test_reported_accuracy_is_a_count_of_right_tags_over_real_words(default_pos, tmp_path, topology):
    record = run(default_pos(f"topology={topology}", "trainer.epochs=2"), tmp_path)
    task = pos.Task(pos.Config(), TEST_DATA, seed=42)
    spec, splits = task.load(batch_size=64)
    model = keras.models.load_model(tmp_path / "model.keras")
    right = words = 0
    for x, tags in splits.test:
        predicted = decoding.predict(model, spec, topology, x)
        real = tags.numpy() != 0
        right += int((predicted[real] == tags.numpy()[real]).sum())
        words += int(real.sum())
    assert words == 310 and 0 < right < words  # every word of the excerpt's test sentences; some right
    assert record["test"]["accuracy"] == pytest.approx(right / words)
    report = json.loads((tmp_path / "per_tag.json").read_text())
    assert report["weighted avg"]["recall"] == pytest.approx(right / words)
