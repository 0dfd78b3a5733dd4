"""Using trained runs on new input: `zoo.predict` in a fresh process answers raw inputs as the run did."""
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TASKS

from zoo import decoding, export, introspect, predict, runs, topologies
from zoo.errors import ZooError


def saved_predictions(run_dir):
    return [json.loads(line) for line in (run_dir / runs.PREDICTIONS).read_text().splitlines()]


def cli_args(lines: list[dict], tmp_path) -> list[str]:
    """The command-line inputs that repeat the run's own test inputs: a file of text lines, or --example N."""
    examples = [line["input"]["example"] for line in lines if isinstance(line["input"], dict)]
    if examples:
        return [arg for n in examples for arg in ("--example", str(n))]
    (tmp_path / "inputs.txt").write_text("".join(line["input"] + "\n" for line in lines), encoding="utf-8")
    return ["--file", str(tmp_path / "inputs.txt")]


def same_outputs(fresh: dict, saved: dict) -> None:
    assert fresh.keys() == saved.keys()
    for key, value in saved.items():
        if key in ("probability", "probabilities", "value", "forecast"):
            assert fresh[key] == pytest.approx(value, abs=1e-5)
        else:
            assert fresh[key] == value


@pytest.mark.parametrize("task", TASKS)
def test_a_fresh_process_answers_the_test_inputs_as_the_run_did(trained, task, zoo_cli, tmp_path):
    run_dir = trained(task)
    lines = saved_predictions(run_dir)
    assert len(lines) >= 2 and all(line["right"] is not None for line in lines)
    result = zoo_cli(str(run_dir), *cli_args(lines, tmp_path), "--json", module="zoo.predict")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["input"] for a in answers] == [line["input"] for line in lines]
    assert {a["run"] for a in answers} == {str(run_dir)}
    for answer, line in zip(answers, lines):
        same_outputs(answer["output"], line["output"])


def evaluation_answers(run_dir) -> tuple:
    """The task loaded from the training data, and what the run's own evaluation path predicts (the task's test
    dataset through decoding.predict), keyed by each example's token ids or features."""
    trained_run = runs.load(run_dir)
    task = trained_run.task
    spec, splits = task.load(batch_size=16)  # the training data again, read as in training
    answers = {}
    for x, _ in splits.test:
        first = tf.nest.flatten(x)[0].numpy()
        for row, answer in zip(first, decoding.predict(trained_run.model, spec, trained_run.topology, x)):
            answers[key(row)] = answer
    return task, answers


def key(row: np.ndarray) -> tuple:
    return tuple(np.round(row[row != 0] if row.dtype.kind == "i" else row, 4).tolist())


def test_raw_inputs_get_the_labels_and_tags_of_the_evaluation(trained):
    for name in ("imdb", "pos", "bp"):
        run_dir = trained(name)
        task, answers = evaluation_answers(run_dir)
        loaded = runs.load(run_dir)
        inputs = [raw for raw, _ in task.test_inputs(20)]
        for raw, output in zip(inputs, loaded.predict(inputs)):
            if name == "imdb":
                expected = ["negative", "positive"][answers[key(np.array(task.token_ids([raw])[0]))]]
                assert output["label"] == expected
            elif name == "pos":
                words = np.array(task.word_ids(raw.split()))
                assert output["tags"] == [task.tags[t] for t in answers[key(words)][:len(words)]]
            else:
                standardized = task.standardize(task.parse(raw))
                assert output["label"] == ["normal", "elevated", "high"][answers[key(standardized)]]


def test_several_runs_answer_side_by_side(trained, capsys):
    run_dir = trained("imdb")
    predict.main([str(run_dir), str(run_dir), "--input", "It was not great, but I recommend it.",
                  "--input", "dreadful"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("input") and table[0].count("gru-many_to_one") == 2
    answers = [re.findall(r"(?:positive|negative) \(\d\.\d\d\)", line) for line in table[2:]]
    assert [len(a) for a in answers] == [2, 2]  # each input: a label and its probability per run


TRAIN_AND_LOAD = """
import json, zoo
record = zoo.train(["task=bp", "trainer.epochs=1", "trainer.limit_batches=2", "model.units=8", "trainer.verbose=0"])
[answer] = zoo.load(record["run"]).predict([
    "age=52 gender=1 height=168 weight=81 cholesterol=1 gluc=1 smoke=0 alco=0 active=1"])
print(json.dumps({"record": record, "answer": answer}))
"""


def test_a_notebook_trains_and_loads_with_the_command_lines_config(zoo_cli, tmp_path):
    result = zoo_cli("-c", TRAIN_AND_LOAD, module=None)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    run_dir = tmp_path / out["record"]["run"]
    assert run_dir.parent == tmp_path / "outputs" / "runs" / "bp" / "gru-one_to_one"
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == out["record"]["test"]
    assert "trainer.limit_batches=2" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert out["answer"]["label"] in ("normal", "elevated", "high")


def test_python_api_answers_patients_and_any_review(trained):
    loaded = runs.load(trained("bp"))
    [answer] = loaded.predict(["age=52 gender=1 height=168 weight=81 cholesterol=1 gluc=1 smoke=0 alco=0 active=1"])
    assert answer["label"] in answer["probabilities"] and sum(answer["probabilities"].values()) == pytest.approx(1)
    review = runs.load(trained("imdb")).predict(["word " * 10000, "zzzqqq xxyyq"])  # long, all unknown: answers
    assert all(set(r["probabilities"]) == {"negative", "positive"} for r in review)


def test_bad_runs_and_inputs_get_one_line(trained, error_line, tmp_path):
    imdb, bp, captioning = trained("imdb"), trained("bp"), trained("captioning")

    def cli(*args) -> str:
        return error_line(predict.main, *args)

    assert cli(tmp_path, "--input", "x") == f"error: {tmp_path} is not a run folder and holds no finished runs"
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({"status": "ok"}))
    assert "predates saved preprocessing" in cli(old, "--input", "x")
    (old / "metrics.json").write_text(json.dumps({"status": "failed", "error": "NonFiniteLoss: loss became nan"}))
    assert cli(old, "--input", "x") == \
        f"error: {old} is not a finished run (status failed: NonFiniteLoss: loss became nan)"
    assert cli(imdb, "--input", "  ") == "error: input 1 is empty"
    assert cli(imdb) == "error: no input: give --input TEXT, --file FILE (- for stdin) or --example N"
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    assert "is not UTF-8 text" in cli(imdb, "--file", tmp_path / "latin1.txt")
    (tmp_path / "blank.txt").write_text("\n\n")
    assert "has no inputs" in cli(imdb, "--file", tmp_path / "blank.txt")
    assert cli(imdb, bp, "--input", "x").startswith("error: the runs are of different tasks")
    assert cli(imdb, "--input", "x", "--beam", "3") == "error: task=imdb takes no --beam option (it takes: --steps)"
    assert "lacks weight" in cli(bp, "--input",
                                 "age=52 gender=1 height=168 cholesterol=1 gluc=1 smoke=0 alco=0 active=1")
    assert "weight='heavy' is not a number" in cli(bp, "--input", "age=52 gender=1 height=168 weight=heavy "
                                                                 "cholesterol=1 gluc=1 smoke=0 alco=0 active=1")
    assert cli(captioning, "--input", tmp_path / "none.png") == f"error: {tmp_path / 'none.png'}: no such image file"
    (tmp_path / "fake.png").write_text("not an image")
    assert "is not a readable PNG or JPEG image" in cli(captioning, "--input", tmp_path / "fake.png")
    assert "the test split has examples 0 to" in cli(captioning, "--example", "100000")


def test_a_bad_run_is_the_only_line_on_the_console(zoo_cli, tmp_path):
    result = zoo_cli(str(tmp_path), "--input", "x", module="zoo.predict")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {tmp_path} is not a run folder and holds no finished runs"]


def test_an_image_file_is_captioned_as_its_pixels_are(trained, tmp_path):
    loaded = runs.load(trained("captioning"))
    pixels = np.round(loaded.task.test_image(3) * 255)  # what an 8-bit PNG of the test image holds
    keras.utils.save_img(tmp_path / "strip.png", pixels, scale=False)
    from_file, from_pixels = loaded.predict([str(tmp_path / "strip.png"), pixels / 255])
    assert from_file == from_pixels and from_file["text"]


SERVE = """
import json, sys
import numpy as np, tensorflow as tf
reloaded = tf.saved_model.load(sys.argv[1])  # kept: its variables live as long as it does
served = reloaded.serve(tf.constant(json.loads(sys.argv[2])))
print(json.dumps({name: tensor.numpy().tolist() for name, tensor in served.items()}, default=bytes.decode))
"""


@pytest.mark.parametrize("task", ["imdb", "text", "bp", "pos"])
def test_the_exported_saved_model_answers_raw_input_as_predict_does(trained, task, zoo_cli, tmp_path):
    run_dir = trained(task)
    export.export(run_dir, tmp_path / "saved")
    lines = saved_predictions(run_dir)
    loaded = runs.load(run_dir)
    raw = [line["input"] for line in lines]
    served_input = [loaded.task.parse(text).tolist() for text in raw] if task == "bp" else raw
    result = zoo_cli("-c", SERVE, str(tmp_path / "saved"), json.dumps(served_input), module=None)
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout.splitlines()[-1])
    for i, line in enumerate(lines):
        expected = line["output"]
        if task == "pos":
            assert served["tags"][i][:len(expected["tags"])] == expected["tags"]
            assert set(served["tags"][i][len(expected["tags"]):]) <= {""}
        else:
            assert served["label"][i] == expected["label"]
            assert served["probability"][i] == pytest.approx(expected["probability"], abs=1e-5)
            assert served["probabilities"][i] == pytest.approx(list(expected["probabilities"].values()), abs=1e-5)
    with pytest.raises(ZooError, match=f"{tmp_path / 'saved'} exists; give --out a new folder"):
        export.export(run_dir, tmp_path / "saved")


def test_generation_tasks_are_not_exported(trained, tmp_path):
    with pytest.raises(ZooError, match="task=memory is not exported"):
        export.export(trained("memory"), tmp_path / "saved")
    assert not (tmp_path / "saved").exists()


def test_per_step_probabilities_end_in_the_answer_and_gates_are_the_cells(trained):
    loaded = runs.load(trained("imdb"))
    [answer] = loaded.predict(["It was not great, but I recommend it."], steps=True)
    assert len(answer["steps"]) == 8 and all(s["token"] for s in answer["steps"])  # unknown words show as [UNK]
    assert answer["steps"][-1]["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-6)
    assert all(0 <= g <= 1 for s in answer["steps"] for g in s["gates"].values())
    assert set(answer["steps"][0]["gates"]) == {"update", "reset"}  # the default cell is a GRU


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gate_means_match_a_hand_computation_of_the_first_step(cell):
    from conftest import model_config

    from zoo.task import Spec

    spec = Spec(inputs="tokens", input_size=20, outputs="class", output_size=2)
    keras.utils.set_random_seed(1)
    model = topologies.build("many_to_one", spec, cell, model_config(units=6, embedding_dim=4))
    [first, *_] = introspect.gate_trace(model, np.array([[3, 4, 5]]), cell)
    embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    x = embedding.embeddings.numpy()[3]  # the first step's input, h0 = 0 (and c0 = 0)
    kernel, _, bias = [w.numpy() for w in model.get_layer("rnn_0").cell.weights]
    if cell == "lstm":  # Keras's order: input, forget, cell, output
        i, f, _, o = np.split(x @ kernel + bias, 4)
        expected = {"input": sigmoid(i).mean(), "forget": sigmoid(f).mean(), "output": sigmoid(o).mean()}
    else:  # update, reset, candidate; bias rows: input, recurrent (reset_after)
        z, r, _ = np.split(x @ kernel + bias[0] + bias[1], 3)
        expected = {"update": sigmoid(z).mean(), "reset": sigmoid(r).mean()}
    assert first["gates"] == pytest.approx(expected, abs=1e-5)


def test_attention_rows_sum_to_one_and_span_source_and_output(trained):
    loaded = runs.load(trained("translation"))
    [answer] = loaded.predict(["four hundred twenty one"], steps=True)
    weights = np.array(answer["attention"])
    assert weights.shape == (len(answer["output_tokens"]), len(answer["source_tokens"])) == (weights.shape[0], 4)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)
    assert [s["token"] for s in answer["steps"]] == answer["source_tokens"]


def test_generated_characters_come_with_their_probabilities(trained):
    loaded = runs.load(trained("shakespeare"))
    [answer] = loaded.predict(["ROMEO:"], length=12, steps=True)
    assert "".join(s["token"] for s in answer["steps"]) == answer["text"] and len(answer["text"]) == 12
    assert all(0 < s["probability"] <= 1 for s in answer["steps"])


def test_the_demo_refuses_runs_of_different_tasks(trained, capsys):
    from zoo import demo

    with pytest.raises(SystemExit):
        demo.main([str(trained("imdb")), str(trained("bp"))])
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: the runs are of different tasks") and "imdb" in line and "bp" in line


def test_the_predict_benchmark_answers_every_test_input(trained):
    from zoo import bench

    row = bench.predict_speed(trained("bp"), count=None)
    assert row["task"] == "bp" and row["inputs"] == 59 and row["cold_start_s"] > 0 and row["answers_per_s"] > 0
    assert 0 <= row["right"] <= 1


def test_a_file_of_one_input_a_line_gets_one_answer_a_line_whatever_the_lines_hold(trained, tmp_path, capsys):
    lines = ["Great film\u2026 no, really\x85 see it.", "Dull\u2028and long.", "Fine\x0cwork, a\x1cgood\x1dcast.",
             "Windows line end.\r"]
    (tmp_path / "reviews.txt").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    predict.main([str(trained("imdb")), "--file", str(tmp_path / "reviews.txt"), "--json"])
    answers = [json.loads(line) for line in capsys.readouterr().out.split("\n") if line]  # JSON lines: \n only
    assert [answer["input"] for answer in answers] == [line.removesuffix("\r") for line in lines]
