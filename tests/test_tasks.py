"""Task data: loading the committed excerpts, the target definitions, and the errors for bad data."""
import gzip
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks import bp, imdb, pos
from zoo.data import Source, locate, sha256
from zoo.errors import DataError
from zoo.task import Spec

DATA = Path(__file__).parent / "data"


def make_tarball(path: Path, folder: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname="aclImdb")
    return path


def test_imdb_reads_a_folder_and_a_tarball_alike(tmp_path):
    from_folder = imdb.read_reviews(DATA / "imdb_reviews" / "aclImdb")
    from_tar = imdb.read_reviews(make_tarball(tmp_path / "a.tar.gz", DATA / "imdb_reviews" / "aclImdb"))
    assert sorted(from_folder["train"][0]) == sorted(from_tar["train"][0])
    assert len(from_folder["train"][0]) == 200 and len(from_folder["test"][0]) == 100
    assert sum(from_folder["train"][1]) == 100  # label 1 = the pos folder
    assert not any("<br />" in text for text in from_folder["train"][0])


def test_imdb_splits_are_disjoint_and_seeded():
    task = imdb.Task(imdb.Config(max_length=32), DATA, seed=3)
    spec, splits = task.load(batch_size=16)
    assert splits.sizes == {"train": 180, "val": 20, "test": 100}
    assert spec.inputs == "tokens" and spec.output_size == 2
    x, y = next(iter(splits.test))
    assert x.shape[0] <= 16 and x.shape[1] <= 32 and x.dtype == "int64"
    again = imdb.Task(imdb.Config(max_length=32), DATA, seed=3).load(batch_size=16)[1]
    np.testing.assert_array_equal(next(iter(again.val))[0], next(iter(splits.val))[0])


def test_imdb_validation_by_movie_holds_movies_training_never_saw(tmp_path):
    movies = imdb.read_reviews(DATA / "imdb_reviews" / "aclImdb")["train"][2]
    assert None not in movies and len(set(movies)) == 191  # the excerpt's urls_*.txt: 200 reviews, 191 movies
    split = imdb.movie_split(movies, seed=3, limit=None, val=0.1)
    val_movies, train_movies = ({movies[i] for i in split[name]} for name in ("val", "train"))
    assert not val_movies & train_movies and sorted([*split["val"], *split["train"]]) == list(range(200))
    assert 20 <= len(split["val"]) <= 22  # whole movies until a tenth of the reviews
    task = imdb.Task(imdb.Config(val_by_movie=True), DATA, seed=3)
    assert task.load(batch_size=16)[1].sizes == {"train": 200 - len(split["val"]), "val": len(split["val"]),
                                                 "test": 100}

    shutil.copytree(DATA / "imdb_reviews", tmp_path / "imdb_reviews", ignore=shutil.ignore_patterns("urls_*"))
    with pytest.raises(DataError, match=r"aclImdb has no train/urls_pos.txt and urls_neg.txt naming every "
                                        r"review's movie, which task.val_by_movie needs"):
        imdb.Task(imdb.Config(val_by_movie=True), tmp_path, seed=0).load(batch_size=8)


def test_imdb_marks_are_words_of_their_own():
    def words(marks: bool) -> list[str]:
        task = imdb.Task(imdb.Config(marks=marks), DATA, seed=0)
        task.load(batch_size=16)
        vocabulary = task.vectorize.get_vocabulary()
        return [vocabulary[i] for i in task.token_ids(["Bad!! Why, oh WHY? 1/10"])[0]]

    assert words(marks=False) == ["bad", "why", "oh", "why", "110"]
    assert words(marks=True) == ["bad", "!", "!", "why", "oh", "why", "?", "110"]


def test_imdb_truncated_tarball_is_named(tmp_path):
    tarball = make_tarball(tmp_path / "a.tar.gz", DATA / "imdb_reviews" / "aclImdb")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[:20000])
    with pytest.raises(DataError, match="cut.tar.gz is unreadable or truncated"):
        imdb.read_reviews(cut)


def test_corrupt_known_file_fails_its_checksum(tmp_path):
    (tmp_path / "imdb_reviews").mkdir()
    (tmp_path / "imdb_reviews" / "aclImdb_labelled.tar.gz").write_bytes(b"not the dataset")
    with pytest.raises(DataError, match=r"aclImdb_labelled.tar.gz is corrupt or a different version: sha256 \w+, "
                                        r"expected 3c27c84c"):
        imdb.Task(imdb.Config(), tmp_path, seed=0).load(batch_size=8)


def test_missing_data_names_the_file_the_folder_and_the_source(tmp_path):
    with pytest.raises(DataError) as error:
        locate(tmp_path, [Source("cardio_train/cardio_train.csv.gz")], "get it from Kaggle")
    message = str(error.value)
    assert "cardio_train/cardio_train.csv.gz" in message and str(tmp_path) in message and "Kaggle" in message
    with pytest.raises(DataError, match="does not exist"):
        locate(tmp_path / "nowhere", [Source("x")], "")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(DataError, match="a_file is a file, not a folder"):
        locate(tmp_path / "a_file", [Source("x")], "")


def test_a_missing_data_dir_is_made_for_a_download(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(b"payload")
    path, _ = locate(tmp_path / "new" / "data", [Source("sub/got.bin", sha256=sha256(served), url=served.as_uri())],
                     "")
    assert path == tmp_path / "new" / "data" / "sub" / "got.bin" and path.read_bytes() == b"payload"


SHARED_TREEBANK = Path(os.environ.get("ZOO_DATA_DIR", "/nonexistent")) / "ud_english_ewt"


@pytest.mark.skipif(not (SHARED_TREEBANK / "en_ewt-ud-test.conllu.gz").exists(),
                    reason="needs the full treebank under $ZOO_DATA_DIR (CI sets it to the shared data)")
def test_pos_downloads_a_missing_treebank_file_from_the_release_and_checks_it(tmp_path, monkeypatch):
    release = tmp_path / "release"
    release.mkdir()
    with gzip.open(SHARED_TREEBANK / "en_ewt-ud-test.conllu.gz") as f:
        (release / "en_ewt-ud-test.conllu").write_bytes(f.read())
    monkeypatch.setattr(pos, "RELEASE", release.as_uri() + "/en_ewt-ud-{split}.conllu")
    path, _ = locate(tmp_path / "data", pos.sources("test"), "")
    assert path == tmp_path / "data" / "ud_english_ewt" / "en_ewt-ud-test.conllu"
    assert len(pos.read_conllu(path, "upos")) == 2077


def test_download_is_checked(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(b"payload")
    source = Source("got.bin", sha256=sha256(served), url=served.as_uri())
    path, _ = locate(tmp_path, [source], "")
    assert path.read_bytes() == b"payload"
    bad = Source("bad.bin", sha256="0" * 64, url=served.as_uri())
    with pytest.raises(DataError, match="corrupt or a different version"):
        locate(tmp_path, [bad], "")
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()  # nothing left behind


@pytest.mark.parametrize("ap_hi,ap_lo,category", [
    (110, 70, 0), (119, 79, 0), (120, 70, 1), (125, 79, 1), (110, 80, 1), (139, 89, 1),
    (140, 70, 2), (110, 90, 2), (180, 110, 2),
])
def test_bp_categories_follow_aha_thresholds(ap_hi, ap_lo, category):
    assert bp.bp_category(pd.Series([ap_hi]), pd.Series([ap_lo]))[0] == category


def test_bp_drops_impossible_rows():
    table = pd.DataFrame({"age": [18000] * 5, "height": [170, 170, 50, 170, 170], "weight": [70] * 5,
                          "ap_hi": [120, 16020, 120, 80, 120], "ap_lo": [80, 80, 80, 120, -70]})
    assert bp.clean(table).index.tolist() == [0]


def test_bp_reads_both_delimiters(tmp_path):
    semicolons = (DATA / "cardio_train" / "cardio_train.csv").read_text()
    with gzip.open(tmp_path / "commas.csv.gz", "wt") as f:
        f.write(semicolons.replace(";", ","))
    pd.testing.assert_frame_equal(bp.read_table(DATA / "cardio_train" / "cardio_train.csv"),
                                  bp.read_table(tmp_path / "commas.csv.gz"))


@pytest.mark.parametrize("content,message", [
    ("", "not a readable CSV"),
    ("id;age;gender\n1;2;3\n", "lacks columns"),
    ("\x00\x01\x02garbage", "lacks columns|not a readable CSV"),
])
def test_bp_malformed_csv(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        bp.read_table(tmp_path / "bad.csv")


def test_bp_never_uses_blood_pressure_as_input():
    assert not {"ap_hi", "ap_lo", "cardio"} & set(bp.FEATURES)


def test_bp_standardizes_with_train_statistics_and_reports_a_baseline():
    task = bp.Task(bp.Config(), DATA, seed=0)
    spec, splits = task.load(batch_size=32)
    assert spec == Spec(inputs="features", input_size=9, outputs="class", output_size=3)
    train_x = task.arrays["train"][0]
    np.testing.assert_allclose(train_x.mean(0), 0, atol=1e-4)
    assert sum(splits.sizes.values()) + task.dropped_rows == 400
    extras = task.extras()
    assert 0.3 < extras["baseline_accuracy"] <= 1 and extras["dropped_rows"] == task.dropped_rows
