"""Text classification on the user's files (task=text): every format read alike, labels as written, tokens for
any language, the n-gram baseline, bad files in one line, and Korean reviews from training to a fresh process."""
import gzip
import json
import os
from pathlib import Path

import keras  # noqa: F401  (loaded before TensorFlow, which otherwise finds the tasks' lazy keras half-made)
import numpy as np
import pandas as pd
import pytest
from conftest import TASKS, TEST_DATA

import tasks
from tasks import text
from zoo import runs
from zoo.errors import DataError

ROWS = [("좋아요 최고", "pos"), ("별로예요", "neg"), ("그냥 그래요", "mid"), ("추천합니다!", "pos"),
        ("시간 아까움", "neg"), ("보통", "mid")] * 10


def write(path, rows=ROWS, columns=("review", "stars")):
    """rows as a CSV, TSV, JSON Lines or gzipped file, by path's suffix."""
    frame = pd.DataFrame(rows, columns=list(columns))
    kind = path.name.removesuffix(".gz").rsplit(".", 1)[-1]
    body = (frame.to_json(orient="records", lines=True, force_ascii=False) if kind == "jsonl" else
            frame.to_csv(index=False, sep="," if kind == "csv" else "\t"))
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(body.encode()))
    else:
        path.write_text(body, encoding="utf-8")
    return path


def task_of(folder, **settings):
    cfg = text.Config(**{"train_file": "train.csv", "text_column": "review", "label_column": "stars",
                         "baseline": text.Baseline.none, **settings})
    return text.Task(cfg, folder, seed=0)


@pytest.mark.parametrize("name", ["train.csv", "train.tsv", "train.jsonl", "train.csv.gz", "train.txt"])
def test_every_format_reads_the_same_texts_and_labels(tmp_path, name):
    write(tmp_path / name)
    parts = task_of(tmp_path, train_file=name).read()
    assert sum(len(texts) for texts, _ in parts.values()) == len(ROWS)
    assert sorted(zip(*[sum((list(part[i]) for part in parts.values()), []) for i in (0, 1)])) == sorted(ROWS)


def test_labels_are_as_written_and_many_classes_get_macro_f1(tmp_path):
    write(tmp_path / "train.csv")
    task = task_of(tmp_path, test_fraction=0.3, val_fraction=0.2)
    spec, splits = task.load(batch_size=8)
    assert task.labels == ["mid", "neg", "pos"] and spec.output_size == 3
    scores = task.test_metrics(lambda x: np.zeros(len(x), dtype=int), splits, tmp_path)  # always "mid"
    gold = np.array(task.test_texts[1])
    assert scores["per_label"]["mid"]["recall"] == 1.0 and scores["per_label"]["neg"]["support"] == np.sum(gold == 1)
    assert scores["macro_f1"] == pytest.approx(2 * np.mean(gold == 0) / (1 + np.mean(gold == 0)) / 3)


def test_a_dev_file_is_validation_and_label_names_rename_the_sorted_labels(tmp_path):
    write(tmp_path / "train.csv", [(t, {"pos": "1", "neg": "0"}.get(y, "1")) for t, y in ROWS])
    write(tmp_path / "dev.csv", [("좋아요", "1"), ("별로", "0")])
    task = task_of(tmp_path, dev_file="dev.csv", label_names=["negative", "positive"], test_fraction=0.5)
    _, splits = task.load(batch_size=8)
    assert splits.sizes == {"train": 30, "val": 2, "test": 30} and task.labels == ["negative", "positive"]


def test_korean_text_is_words_or_syllables_after_nfc_and_unicode_standardization(tmp_path):
    import unicodedata

    write(tmp_path / "train.csv")
    words = task_of(tmp_path)
    words.load(batch_size=8)
    review = "GOOD! 별로지만, 추천해요… ㅋㅋ"  # a Korean comma, an ellipsis, compatibility jamo
    assert words.token_names(words.token_ids(words.normalized([review]))[0]) == ["[UNK]"] * 4
    decomposed = unicodedata.normalize("NFD", "좋아요 최고")  # as some systems write Hangul: jamo by jamo
    assert words.token_names(words.token_ids(words.normalized([decomposed]))[0]) == ["좋아요", "최고"]
    assert words.normalized(["ㅋㅋ ㅠㅠ"]) == ["ㅋㅋ ㅠㅠ"]  # NFKC would rewrite them as conjoining jamo
    vocabulary = words.vectorize.get_vocabulary()
    assert "좋아요" in vocabulary and "추천합니다" in vocabulary  # "!" dropped, no tokenizer needed
    marked = task_of(tmp_path, marks=True)
    marked.load(batch_size=8)
    assert "!" in marked.vectorize.get_vocabulary()
    chars = task_of(tmp_path, tokens=text.Tokens.chars)
    chars.load(batch_size=8)
    assert chars.token_names(chars.token_ids(["별로예요 good"])[0])[:5] == ["별", "로", "예", "요", " "]
    assert "g" not in chars.vectorize.get_vocabulary()  # what training never held is unknown


def test_subword_pieces_are_learned_on_the_training_split_and_read_any_text(tmp_path):
    write(tmp_path / "train.csv")
    task = task_of(tmp_path, tokens=text.Tokens.subwords, vocabulary_size=40)
    spec, splits = task.load(batch_size=8)
    ids = task.token_ids(["좋아요 추천"])[0]
    assert "".join(task.token_names(ids)).replace("▁", "") == "좋아요추천" and min(ids) >= 1
    restored = text.Task(task.cfg, tmp_path, seed=0)
    restored.restore(json.loads(json.dumps(task.state())))
    assert restored.token_ids(["좋아요 추천"]) == [ids] and spec.input_size == task.vocabulary_size()
    assert next(iter(splits.train))[0].dtype == "int64"


def test_the_baseline_is_a_tfidf_logistic_regression_on_the_same_split_with_c_chosen_on_validation(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    write(tmp_path / "train.csv")
    task = task_of(tmp_path, baseline=text.Baseline.chars, test_fraction=0.3)
    _, splits = task.load(batch_size=8)
    parts = task.read()
    train, val, test = parts["train"], parts["val"], parts["test"]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    train_x = vectorizer.fit_transform(train[0])
    models = {c: LogisticRegression(C=c, max_iter=1000).fit(train_x, train[1]) for c in (0.25, 1, 4, 16)}
    val_accuracy = {c: np.mean(m.predict(vectorizer.transform(val[0])) == np.array(val[1])) for c, m in models.items()}
    best = [c for c in models if val_accuracy[c] == max(val_accuracy.values())][0]
    expected = np.mean(models[best].predict(vectorizer.transform(test[0])) == np.array(test[1]))
    assert task.extras()["baseline_c"] == best and task.extras()["baseline_accuracy"] == pytest.approx(expected)
    assert task.extras()["baseline"].startswith("TF-IDF of character 1-3-grams")


BAD = {  # (file name, content) -> the line's tail
    ("train.csv", "review,label\n좋아요,1\n"): "has no column 'stars'; its columns: review, label",
    ("train.csv", ""): "is empty",
    ("train.csv", "review,stars\n"): "has no rows",
    ("train.tsv", "review\tstars\n좋아요\t1\n별로\t0\textra\n"): "has rows with the wrong number of columns",
    ("train.jsonl", '{"review": "좋아요", "stars": 1}\nnot json\n'): "is not JSON Lines",
    ("train.xlsx", "review,stars\n"): "not a .csv, .tsv, .txt (tab-separated) or .jsonl file",
    ("train.csv", "review,stars\n좋아요,1\n최고,1\n"): "have one class only: '1'",
}


@pytest.mark.parametrize("name,content", BAD)
def test_bad_files_are_one_line(tmp_path, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        task_of(tmp_path, train_file=name).load(batch_size=8)
    assert str(error.value).endswith(BAD[name, content]) or BAD[name, content] in str(error.value)
    assert "\n" not in str(error.value)


def test_files_that_cannot_be_read_as_text_are_one_line(tmp_path):
    (tmp_path / "train.csv").write_bytes("review,stars\n좋아요,1\n".encode("euc-kr"))
    with pytest.raises(DataError, match=r"train.csv is not UTF-8 text \(byte 13"):
        task_of(tmp_path).load(batch_size=8)
    with pytest.raises(DataError, match="task.train_file .*nowhere.csv does not exist"):
        task_of(tmp_path, train_file="nowhere.csv").load(batch_size=8)
    write(tmp_path / "train.csv")
    write(tmp_path / "test.csv", [("좋아요", "great")])
    with pytest.raises(DataError, match="the test split has labels the training split lacks: great"):
        task_of(tmp_path, test_file="test.csv").load(batch_size=8)
    with pytest.raises(DataError, match="task.label_names names 2 labels; the training file has 3: mid, neg, pos"):
        task_of(tmp_path, label_names=["a", "b"]).load(batch_size=8)


def test_empty_texts_are_skipped_and_counted(tmp_path):
    write(tmp_path / "train.csv", [*ROWS, ("", "pos"), ("   ", "neg")])
    task = task_of(tmp_path)
    _, splits = task.load(batch_size=8)
    assert task.extras()["skipped_rows"] == 2 and sum(splits.sizes.values()) == len(ROWS)


def test_an_id_column_gives_each_test_row_its_answer_in_the_test_files_order(tmp_path):
    write(tmp_path / "train.csv", [(t, y, f"train-{i}") for i, (t, y) in enumerate(ROWS)], ("review", "stars", "no"))
    test_rows = [(t, y, f"r{i}") for i, (t, y) in enumerate(ROWS[:9])][::-1]  # ids in no sorted order
    write(tmp_path / "test.csv", [*test_rows, ("  ", "pos", "blank")], ("review", "stars", "no"))
    task = task_of(tmp_path, test_file="test.csv", id_column="no")
    _, splits = task.load(batch_size=4)

    def first_token_mod_3(padded):  # a stand-in model whose answer depends on each row's own text
        return padded[:, 0] % 3

    task.test_metrics(first_token_mod_3, splits, tmp_path)
    written = pd.read_csv(tmp_path / text.TEST_PREDICTIONS, dtype=str)
    assert list(written["id"]) == [i for _, _, i in test_rows]  # the blank row skipped, the order kept
    assert list(written["label"]) == [y for _, y, _ in test_rows]
    expected = [task.labels[ids[0] % 3] for ids in task.token_ids([t for t, _, _ in test_rows])]
    assert list(written["predicted"]) == expected


def test_the_reported_accuracy_is_a_count_over_the_test_predictions_file(make_config, tmp_path):
    from zoo.runner import run

    record = run(make_config("task=text", *TASKS["text"], "trainer.epochs=1", "task.limit=80"), tmp_path)
    answered = pd.read_csv(tmp_path / text.TEST_PREDICTIONS, dtype=str)  # every test review, by its NSMC id
    assert len(answered) == record["examples"]["test"] == 80 and answered["id"].is_unique
    test_file = pd.read_csv(TEST_DATA / "naver_movie_reviews" / "ratings_test.txt", sep="\t", dtype=str)
    assert set(answered["id"]) <= set(test_file["id"])
    assert np.mean(answered["label"] == answered["predicted"]) == pytest.approx(record["test"]["accuracy"])


def test_repeated_ids_are_one_line(tmp_path):
    write(tmp_path / "train.csv", [(t, y, i % 50) for i, (t, y) in enumerate(ROWS)], ("review", "stars", "no"))
    with pytest.raises(DataError, match=r"train.csv: the id column 'no' repeats '0'; ids must be unique$"):
        task_of(tmp_path, id_column="no").load(batch_size=8)


def test_korean_reviews_answer_alike_in_a_fresh_process(trained, zoo_cli, tmp_path):
    run_dir = trained("text")
    saved = [json.loads(line) for line in (run_dir / runs.PREDICTIONS).read_text().splitlines()]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in saved[0]["input"])  # Hangul syllables
    reviews = [line["input"] for line in saved] + ["별로지만 추천해요"]
    (tmp_path / "reviews.txt").write_text("".join(r + "\n" for r in reviews), encoding="utf-8")
    result = zoo_cli(str(run_dir), "--file", str(tmp_path / "reviews.txt"), "--json", module="zoo.predict")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["input"] for a in answers] == reviews
    for line, answer in zip(saved, answers):
        assert answer["output"]["label"] == line["output"]["label"] in ("negative", "positive")
        assert answer["output"]["probability"] == pytest.approx(line["output"]["probability"], abs=1e-5)
    [stepped] = runs.load(run_dir).predict(["별로지만 추천해요"], steps=True)

    assert [s["token"] for s in stepped["steps"]][:4] == ["별", "로", "지", "만"]
    assert stepped["steps"][-1]["probabilities"] == pytest.approx(stepped["probabilities"], abs=1e-6)


def test_the_nsmc_preset_reads_the_shared_corpus(make_config):
    data_dir = Path(os.environ.get("ZOO_DATA_DIR", "data"))
    if not (data_dir / "naver_movie_reviews").exists():
        pytest.skip(f"{data_dir}/naver_movie_reviews is not here (CI sets ZOO_DATA_DIR=../shared/data)")
    parts = tasks.create(make_config("experiment=nsmc", f"paths.data_dir={data_dir}")).read()
    assert len(parts["test"][0]) == 50_000 and len(parts["train"][0]) + len(parts["val"][0]) == 150_000
    assert sorted(set(parts["train"][1])) == ["0", "1"]
