"""task=translation: reading the pairs, leak-free splits, the toy task, tokens <-> text, BLEU and a learning run."""
import gzip
import json
import zipfile
from pathlib import Path

import pytest

from tasks import translation
from zoo.errors import DataError
from zoo.runner import run

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("n,english,spanish", [
    (0, "zero", "cero"),
    (15, "fifteen", "quince"),
    (21, "twenty one", "veintiuno"),
    (35, "thirty five", "treinta y cinco"),
    (100, "one hundred", "cien"),
    (101, "one hundred one", "ciento uno"),
    (421, "four hundred twenty one", "cuatrocientos veintiuno"),
    (1000, "one thousand", "mil"),
    (2019, "two thousand nineteen", "dos mil diecinueve"),
    (7590, "seven thousand five hundred ninety", "siete mil quinientos noventa"),
])
def test_toy_numbers_in_words(n, english, spanish):
    assert (translation.english_number(n), translation.spanish_number(n)) == (english, spanish)


@pytest.mark.parametrize("text,tokens", [
    ("¿Dónde está Tom?", ["¿", "dónde", "está", "tom", "?"]),
    ("I'm sure it's Tom's, too.", ["i'm", "sure", "it's", "tom's", ",", "too", "."]),
    ("¡Qué bien!", ["¡", "qué", "bien", "!"]),
])
def test_tokens_and_text(text, tokens):
    assert translation.tokenize(text) == tokens
    assert translation.detokenize(tokens) == text.lower()


def test_reads_gzip_zip_and_text_alike(tmp_path):
    content = "Go.\tVe.\nHi!\t¡Hola!\n"
    (tmp_path / "spa.txt").write_text(content, encoding="utf-8")
    with gzip.open(tmp_path / "spa.txt.gz", "wt", encoding="utf-8") as f:
        f.write(content)
    with zipfile.ZipFile(tmp_path / "spa-eng.zip", "w") as archive:
        archive.writestr("spa-eng/spa.txt", content)
    for name in ("spa.txt", "spa.txt.gz", "spa-eng.zip"):
        assert translation.read_pairs(tmp_path / name) == [("Go.", "Ve."), ("Hi!", "¡Hola!")]


@pytest.mark.parametrize("content,message", [
    ("Go.\tVe.\nno tab here\n", "line 2 is not `English<TAB>Spanish`"),
    ("", "has no sentence pairs"),
])
def test_malformed_pairs_are_named(tmp_path, content, message):
    (tmp_path / "spa.txt").write_text(content)
    with pytest.raises(DataError, match=message):
        translation.read_pairs(tmp_path / "spa.txt")


def test_truncated_archive_is_named(tmp_path):
    archive = gzip.compress((DATA / "anki_spa_eng" / "spa.txt").read_bytes())
    (tmp_path / "spa.txt.gz").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(DataError, match="spa.txt.gz is not a readable spa.txt"):
        translation.read_pairs(tmp_path / "spa.txt.gz")


def load(**config):
    task = translation.Task(translation.Config(**config), DATA, seed=0)
    return task, *task.load(batch_size=16)


def test_a_source_sentence_and_all_its_translations_stay_in_one_split():
    task, spec, splits = load(max_words=None)
    pairs = translation.read_pairs(DATA / "anki_spa_eng" / "spa.txt")
    train, val, test = (set(task.split_sources[name]) for name in ("train", "val", "test"))
    assert test and val and not (train & val or train & test or val & test)
    assert train | val | test == {s for s, _ in pairs} and sum(splits.sizes.values()) == len(pairs)
    assert task.test_sources == task.split_sources["test"]
    assert all(sorted(refs) == sorted(t for s, t in pairs if s == source)
               for source, refs in zip(task.test_sources, task.test_references))
    assert load(max_words=None)[0].split_sources == task.split_sources  # seeded


def test_a_batch_holds_source_sentences_of_one_length():
    task, spec, splits = load(max_words=None)
    lengths = [set((x.numpy() != 0).sum(axis=1)) for x, _ in splits.train]
    assert len(lengths) > 1 and all(len(batch) == 1 for batch in lengths)  # so no source step is padding
    assert sum(len(x) for x, _ in splits.train) == splits.sizes["train"]


def test_bleu_signature_counts_every_reference(tmp_path):
    task, spec, splits = load(max_words=None)
    assert any(len(refs) > 1 for refs in task.test_references)
    task.test_metrics(lambda sources, beam_size, exclude: [[3]] * len(sources), splits, tmp_path)
    signatures = task.extras()
    assert signatures["bleu_signature"].startswith("nrefs:var|case:lc|")
    assert signatures["bleu_cased_signature"].startswith("nrefs:var|case:mixed|")


def test_direction_and_length_filter():
    task, spec, splits = load(direction="spa-eng", max_words=4)
    assert all(len(s.split()) <= 4 and len(r.split()) <= 4
               for s, refs in zip(task.test_sources, task.test_references) for r in refs)
    pairs = translation.read_pairs(DATA / "anki_spa_eng" / "spa.txt")
    assert set(task.test_sources) <= {spanish for _, spanish in pairs}
    assert task.target_vocabulary.words[:4] == ["", "[start]", "[end]", "[UNK]"] and "tom" in task.target_vocabulary.ids
    for x, y in splits.test:
        assert (y[:, 0] == 1).numpy().all() and x.shape[0] == y.shape[0]


def test_bleu_of_a_perfect_output_is_100(tmp_path):
    task, spec, splits = load(dataset=translation.Dataset.toy)
    reference_ids = {tuple(task.encode_source(s)): task.target_vocabulary.encode(refs[0])
                     for s, refs in zip(task.test_sources, task.test_references)}

    def perfect(sources, beam_size, exclude):
        return [reference_ids[tuple(t for t in row if t)] for row in sources.tolist()]

    metrics = task.test_metrics(perfect, splits, tmp_path)
    assert metrics["bleu"] == pytest.approx(100) and metrics["bleu_first_reference"] == pytest.approx(100)
    samples = json.loads((tmp_path / "samples.json").read_text())
    assert len(samples) == 20 and all(s["output"] == s["references"][0] for s in samples)


def test_subwords_come_from_training_text_and_give_it_back_with_its_case():
    task, spec, splits = load(max_words=None, tokens=translation.Tokens.subwords, subword_vocabulary=300)
    assert spec.output_size == len(task.target_vocabulary) <= 300 and spec.input_size == len(task.source_vocabulary)
    train_text = "".join(task.split_sources["train"])
    for sentence in task.split_sources["train"][:50]:
        ids = task.source_vocabulary.encode(sentence)
        assert translation.UNKNOWN not in ids and task.source_vocabulary.decode(ids) == sentence
    unseen = next(c for c in "ЖΩ€♞" if c not in train_text)
    assert translation.UNKNOWN in task.source_vocabulary.encode(f"Tom {unseen}")  # learned from the training split only
    restored = translation.Task(task.cfg, DATA, seed=0)
    restored.restore(json.loads(json.dumps(task.state())))
    reference = task.test_references[0][0]
    ids = task.target_vocabulary.encode(reference)
    assert restored.target_vocabulary.encode(reference) == ids
    assert restored.target_vocabulary.decode(ids) == task.target_vocabulary.decode(ids)


@pytest.mark.parametrize("tokens,accuracy,bleu", [("words", 0.95, 85), ("subwords", 0.88, 70)])  # pieces: longer
def test_tiny_model_learns_the_toy_task(make_config, tmp_path, tokens, accuracy, bleu):
    cfg = make_config("task=translation", "task.dataset=toy", f"task.tokens={tokens}", "model.attention=luong",
                      "model.units=48", "model.embedding_dim=16", "trainer.batch_size=32", "trainer.epochs=6",
                      "trainer.learning_rate=0.01")
    metrics = run(cfg, tmp_path)
    assert metrics["test"]["accuracy"] > accuracy and metrics["test"]["bleu"] > bleu
    assert metrics["bleu_signature"].startswith("nrefs:1|case:lc|")


def test_asked_for_xla_the_run_says_once_why_it_trains_without(make_config, tmp_path, caplog):
    cfg = make_config("task=translation", "task.dataset=toy", "task.limit=300", "trainer.epochs=1",
                      "trainer.jit_compile=true")
    with caplog.at_level("WARNING", logger="zoo.runner"):
        metrics = run(cfg, tmp_path)
    said = [r.getMessage() for r in caplog.records if "XLA" in r.getMessage()]
    assert metrics["status"] == "ok" and len(said) == 1
    assert said[0].startswith("training without XLA (trainer.jit_compile=true): a batch pads its sources")
