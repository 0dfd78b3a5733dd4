"""Every task that reads files reads the user's: any CoNLL-U treebank as pos (Korean-GSD's excerpt here), sentence
pairs from any table as translation, with the same task.train_file / dev_file / test_file names."""
import keras  # noqa: F401  (loaded before TensorFlow, which otherwise finds the tasks' lazy keras half-made)
import pandas as pd
import pytest
from conftest import TEST_DATA

from tasks import pos, translation
from zoo.errors import DataError

KOREAN = {"train_file": "ud_korean_gsd/ko_gsd-ud-dev.conllu", "test_file": "ud_korean_gsd/ko_gsd-ud-test.conllu"}


def test_a_korean_treebank_is_a_pos_run_from_paths_alone():
    task = pos.Task(pos.Config(**KOREAN), TEST_DATA, seed=0)
    spec, splits = task.load(batch_size=8)
    assert splits.sizes == {"train": 36, "val": 4, "test": 20}  # no dev file: a seeded tenth of train
    assert "NOUN" in task.tags and any("\uac00" <= c <= "\ud7a3" for word in task.words for c in word)
    assert 0.3 < task.extras()["test_unknown_words"] < 1  # Korean words carry their particles: many unseen
    with_dev = pos.Task(pos.Config(**KOREAN, dev_file="ud_korean_gsd/ko_gsd-ud-test.conllu"), TEST_DATA, seed=0)
    assert with_dev.load(batch_size=8)[1].sizes == {"train": 40, "val": 20, "test": 20}


def test_treebank_files_go_together_and_bad_ones_are_one_line(tmp_path):
    with pytest.raises(DataError, match="task.train_file and task.test_file go together"):
        pos.Config(train_file="a.conllu")
    (tmp_path / "bad.conllu").write_text("1\tword\n", encoding="utf-8")
    with pytest.raises(DataError, match="bad.conllu has no sentences with upos tags"):
        pos.Task(pos.Config(train_file="bad.conllu", test_file="bad.conllu"), tmp_path, seed=0).load(batch_size=8)
    with pytest.raises(DataError, match="task.train_file .*none.conllu does not exist"):
        pos.Task(pos.Config(train_file="none.conllu", test_file="x"), tmp_path, seed=0).load(batch_size=8)


def write_pairs(path, rows=40):
    pd.DataFrame({"ko": [f"나는 {i}개를 샀다" for i in range(rows)],
                  "en": [f"I bought {i}" for i in range(rows)]}).to_csv(path, sep="\t", index=False)


def test_sentence_pairs_from_any_table_in_either_direction(tmp_path):
    write_pairs(tmp_path / "pairs.tsv")
    settings = dict(dataset=translation.Dataset.file, train_file="pairs.tsv", max_words=None)
    forward = translation.Task(translation.Config(**settings, source_column="ko", target_column="en"), tmp_path, 0)
    _, splits = forward.load(batch_size=8)
    assert splits.sizes == {"val": 4, "test": 4, "train": 32}
    assert forward.test_sources[0].startswith("나는") and forward.test_references[0][0].startswith("I bought")
    back = translation.Task(translation.Config(**settings, source_column="en", target_column="ko"), tmp_path, 0)
    back.load(batch_size=8)
    assert back.test_sources[0].startswith("I bought")
    write_pairs(tmp_path / "test.tsv", rows=5)
    own_test = translation.Task(translation.Config(**settings, test_file="test.tsv", source_column="ko",
                                                   target_column="en"), tmp_path, 0)
    assert own_test.load(batch_size=8)[1].sizes["test"] == 5


def test_bad_pair_files_are_one_line(tmp_path):
    with pytest.raises(DataError, match="task.dataset=file reads task.train_file"):
        translation.Config(dataset=translation.Dataset.file)
    (tmp_path / "pairs.tsv").write_text("ko\ten\n나는\t\n", encoding="utf-8")
    task = translation.Task(translation.Config(dataset=translation.Dataset.file, train_file="pairs.tsv",
                                               source_column="ko", target_column="en"), tmp_path, 0)
    with pytest.raises(DataError, match="pairs.tsv: 1 rows have an empty source or target sentence"):
        task.load(batch_size=8)
    with pytest.raises(DataError, match="has no column 'source'; its columns: ko, en"):
        translation.Task(translation.Config(dataset=translation.Dataset.file, train_file="pairs.tsv"), tmp_path,
                         0).load(batch_size=8)
