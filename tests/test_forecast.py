"""Forecasting (task=forecast): the chronological split and its windows, training-only scaling, every topology's
horizon in the series' units, a decoder that never sees the future, predict on a CSV, and bad files in one line."""
import json

import keras  # noqa: F401  (loaded before TensorFlow, which otherwise finds the tasks' lazy keras half-made)
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from omegaconf import OmegaConf
from test_demo import chromium, missing, served

from tasks import forecast
from zoo import compare, decoding, predict, runs, topologies
from zoo.errors import DataError
from zoo.rules import MEMORYLESS, supported_topologies
from zoo.runner import run
from zoo.task import Example

SINE = ["task.series=file", "task.file=sine.csv", "task.column=value", "task.date_column=date", "task.window=24",
        "task.horizon=8", "task.season=24"]


def write_sine(folder, steps=1200, level=1000.0, noise=0.05, seed=0):
    """A daily sine of period 24 around `level`, with a little noise, as sine.csv."""
    rng = np.random.default_rng(seed)
    values = level + 10 * np.sin(2 * np.pi * np.arange(steps) / 24) + noise * rng.standard_normal(steps)
    dates = pd.date_range("2000-01-01", periods=steps, freq="D")
    pd.DataFrame({"date": dates, "value": values}).to_csv(folder / "sine.csv", index=False)
    return values


def task_of(folder, *overrides, **settings):
    cfg = forecast.Config(series=forecast.Series.file, file="sine.csv", column="value", date_column="date",
                          window=24, horizon=8, season=24, **settings)
    return forecast.Task(cfg, folder, seed=0)


def test_windows_never_forecast_a_step_of_a_later_part(tmp_path):
    values = write_sine(tmp_path, steps=600)
    task = task_of(tmp_path)
    task.load(batch_size=16)
    for name, (first, end) in task.parts.items():
        x, y, starts = task.arrays[name]
        assert len(y) > 0 and starts.min() >= first and starts.max() + 8 <= end  # every future step in the part
        for inputs, future, start in zip(x, y, starts):
            np.testing.assert_array_equal(inputs, values[start - 24:start])  # the 24 steps just before
            np.testing.assert_array_equal(future, values[start:start + 8])
    assert task.parts["train"][1] == task.parts["val"][0] and task.parts["val"][1] == task.parts["test"][0]


def test_the_split_date_starts_the_test_part_and_stride_spaces_its_windows(tmp_path):
    write_sine(tmp_path, steps=600)
    task = task_of(tmp_path, split_date="2001-01-01", stride=10)
    task.load(batch_size=16)
    first, _ = task.parts["test"]
    assert str(task.dates[first].date()) == "2001-01-02"
    assert set(np.diff(task.arrays["test"][2])) == {10}


def test_scaling_and_the_mase_scale_come_from_the_training_part_only(tmp_path):
    values = write_sine(tmp_path, steps=600)
    task = task_of(tmp_path)
    task.load(batch_size=16)
    train = values[: task.parts["train"][1]]
    assert (task.mean, task.std) == pytest.approx((train.mean(), train.std()))
    assert task.scale == pytest.approx(np.mean(np.abs(train[24:] - train[:-24])))
    frame = pd.read_csv(tmp_path / "sine.csv")
    frame.loc[task.parts["val"][0]:, "value"] *= 100  # what comes after training changes nothing of it
    frame.to_csv(tmp_path / "sine.csv", index=False)
    changed = task_of(tmp_path)
    changed.load(batch_size=16)
    assert (changed.mean, changed.std, changed.scale) == (task.mean, task.std, task.scale)


@pytest.mark.parametrize("topology", supported_topologies("series", "values"))
def test_a_small_model_forecasts_a_sine_better_than_the_last_value(make_config, tmp_path, topology):
    write_sine(tmp_path)
    cfg = make_config("task=forecast", f"topology={topology}", *SINE, f"paths.data_dir={tmp_path}",
                      "model.units=16", "trainer.epochs=12", "trainer.patience=12", "trainer.learning_rate=0.01")
    (tmp_path / "run").mkdir()
    record = run(cfg, tmp_path / "run")
    assert record["status"] == "ok" and len(record["test"]["mae_by_step"]) == 8
    assert record["test"]["mase"] < 0.6 * record["test"]["baselines"]["naive"]["mase"]
    assert set(record["test"]["baselines"]) == set(forecast.BASELINES)
    shown = compare.table([{**record, "run": "run", "overrides": ""}])["test"][0]  # the baselines beside the run
    assert f"naive:mase={record['test']['baselines']['naive']['mase']:.4g}" in shown


@pytest.mark.parametrize("topology,cell", [(topology, cell) for topology in supported_topologies("series", "values")
                                           for cell in ("gru", "none") if cell == "gru" or topology in MEMORYLESS])
def test_every_topology_forecasts_the_horizon_in_the_series_units(tmp_path, topology, cell):
    from conftest import model_config

    write_sine(tmp_path, steps=400, level=5000.0)
    task = task_of(tmp_path)
    spec, _ = task.load(batch_size=16)
    model = topologies.build(topology, spec, cell, model_config(units=4))
    x = task.arrays["test"][0][:5]
    predicted = task.forecasts(lambda batch: decoding.predict(model, spec, topology, batch), x)
    assert predicted.shape == (5, 8) and np.all(np.abs(predicted - 5000) < 100)  # an untrained model: near the mean


def test_the_decoder_feeds_itself_and_never_a_true_future_value(tmp_path):
    from conftest import model_config

    write_sine(tmp_path, steps=400)
    task = task_of(tmp_path)
    spec, splits = task.load(batch_size=16)
    model = topologies.build("seq2seq", spec, "gru", model_config(units=8))
    window, future = next(iter(splits.test))
    forecast_ = decoding.predict(model, spec, "seq2seq", window)
    for changed in (future, future * 0 + 7.0):  # whatever the future holds, the forecast is the same
        (_, teacher_in), _ = next(iter(decoding.teacher_forcing(
            tf.data.Dataset.from_tensors((window, changed)), spec)))
        assert not np.allclose(model.predict_on_batch([window, teacher_in]), forecast_, atol=1e-4)
    own = np.concatenate([window.numpy()[:, -1:, 0], forecast_[:, :-1]], axis=1)[..., None]
    np.testing.assert_allclose(model.predict_on_batch([window, own]), forecast_, atol=1e-5)


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    """A finished one-epoch run on sine.csv, and the series' values."""
    from conftest import ROOT, TINY
    from hydra import compose, initialize_config_dir

    folder = tmp_path_factory.mktemp("sine")
    values = write_sine(folder)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, "task=forecast", *SINE, f"paths.data_dir={folder}",
                                           "trainer.epochs=1"])
    (folder / "run").mkdir()
    run(cfg, folder / "run")
    return folder / "run", values


def test_predict_on_a_csv_gives_the_evaluations_forecast_for_the_same_window(sine_run, tmp_path, capsys):
    run_dir, values = sine_run
    trained = runs.load(run_dir)
    [example] = trained.predict([Example(3)])
    trained.task.load(batch_size=16)
    start = trained.task.arrays["test"][2][3]
    history = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=start, freq="D"), "value": values[:start]})
    history.to_csv(tmp_path / "history.csv", index=False)
    predict.main([str(run_dir), "--file", str(tmp_path / "history.csv"), "--json"])  # the whole file: one input
    [from_file] = [json.loads(line)["output"] for line in capsys.readouterr().out.splitlines()]
    assert from_file["forecast"] == pytest.approx(example["forecast"], abs=1e-4)
    assert from_file["history"] == pytest.approx(values[start - 24:start].tolist())
    assert from_file["dates"] == example["dates"] and from_file["dates"][0].startswith(
        str(pd.Timestamp("2000-01-01") + pd.Timedelta(days=int(start)))[:10])
    assert example["expected"] == pytest.approx(values[start:start + 8].tolist())
    assert set(example["baselines"]) == set(forecast.BASELINES)  # a test window: the baselines as scored
    for name, forecasts in trained.task.test_baselines.items():
        assert example["baselines"][name] == pytest.approx(forecasts[3].tolist(), abs=1e-5)
    for name in ("naive", "seasonal_naive", "linear"):  # a file: those its history (and the run folder) hold
        assert from_file["baselines"][name] == pytest.approx(example["baselines"][name], abs=1e-4)
    history.iloc[-10:].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(DataError, match="has 10 values; the model reads task.window=24"):
        trained.predict([str(tmp_path / "short.csv")])


def test_the_window_is_the_distance_diagnose_plots_against_with_the_linear_ar_as_baseline(sine_run):
    from zoo import diagnose

    record = json.loads((sine_run[0] / "metrics.json").read_text())
    assert record["distance"] == 24 and record["baseline_mase"] == record["test"]["baselines"]["linear"]["mase"]
    assert diagnose.main(["long-dependency", str(sine_run[0])]) == 0
    table = (sine_run[0] / "long_dependency.md").read_text()
    assert "task.window (steps read)" in table and "| cell | T=24 |" in table
    assert f"| linear AR on the same window | {record['baseline_mase']:.4g} |" in table


def test_the_report_shows_each_runs_test_window_and_error_by_step(sine_run, tmp_path):
    import base64

    shown = sine_run[0] / "samples.png"
    assert shown.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert compare.main([str(sine_run[0]), "--format", "html", "--out", str(tmp_path / "report.html")]) == 0
    assert base64.b64encode(shown.read_bytes()).decode() in (tmp_path / "report.html").read_text()


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_the_demo_draws_the_window_each_forecast_and_what_came(sine_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    loaded = runs.load(sine_run[0])
    with served([loaded]) as address, chromium(tmp_path, window="1200,1200") as browser:
        browser.get(address)
        wait = WebDriverWait(browser, 90)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#submit"))
        browser.find_element(By.CSS_SELECTOR, "#submit").click()  # test window 0
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#per-word img"))
        shown = browser.find_element(By.CSS_SELECTOR, "#answer-0").text
        assert browser.find_elements(By.CSS_SELECTOR, "#gates-0 img")
    [expected] = loaded.predict([Example(0)])
    assert shown.startswith(f"{expected['forecast'][0]:.4g}") and "right:" in shown


BAD = {  # file content -> the line's tail
    "date,price\n2000-01-01,1\n": "has no column 'value'; its columns: date, price",
    "date,value\n2000-01-01,1\n2000-01-02,abc\n": "has values that are not numbers, first on row 3: 'abc'",
    "date,value\n2000-01-01,1\n2000-01-02,\n2000-01-03,3\n": "has no value on 1 rows (gaps), first row 3",
    "date,value\n2000-01-01,1\n2000-01-02,2\n2000-01-03,3\n2000-01-05,5\n": "the dates skip a step",
    "date,value\n2000-01-03,1\n2000-01-02,2\n2000-01-01,3\n": "dates must increase",
    "date,value\n" + "".join(f"2000-01-{d:02d},{d}\n" for d in range(1, 29)): "too short for task.window=24",
}


@pytest.mark.parametrize("content", BAD)
def test_bad_files_are_one_line(tmp_path, content):
    (tmp_path / "sine.csv").write_text(content)
    with pytest.raises(DataError, match=BAD[content].replace("(", r"\(").replace(")", r"\)")):
        task_of(tmp_path, **({"frequency": "D"} if "skip" in BAD[content] else {})).load(batch_size=16)


def test_a_bad_file_is_all_the_command_line_shows(zoo_cli, tmp_path):
    (tmp_path / "prices.csv").write_text("date,close\n2000-01-01,1\n")
    result = zoo_cli("task=forecast", "task.series=file", f"task.file={tmp_path / 'prices.csv'}",
                     "task.column=Close")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'prices.csv'} has no column 'Close'; its columns: date, close"]


def test_a_file_setting_without_series_file_is_refused(make_config):
    with pytest.raises(DataError, match="task.file and task.column are for task.series=file"):
        OmegaConf.to_object(make_config("task=forecast", "task.file=x.csv", "task.column=y").task)


@pytest.mark.parametrize("series,season", [("sunspots", 132), ("electricity", 48), ("msft", 1), ("co2", 52)])
def test_the_packaged_series_load_offline_with_their_seasons(series, season):
    task = forecast.Task(forecast.Config(series=forecast.Series[series], window=24, horizon=6, limit=8), "unused",
                         seed=0)
    spec, splits = task.load(batch_size=4)
    assert task.season == season and spec.output_length == 6 and splits.sizes["test"] == 8
    assert np.isfinite(task.values).all() and task.dates.is_monotonic_increasing
    assert task.filled == (59 if series == "co2" else 0)


def test_each_baseline_forecasts_from_the_steps_before_its_origin_only(tmp_path):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = write_sine(tmp_path, steps=600)
    task = task_of(tmp_path)
    task.load(batch_size=16)
    x, y, origins = task.arrays["test"]
    baselines = task.test_baselines
    assert all(forecast_.shape == y.shape for forecast_ in baselines.values())
    np.testing.assert_array_equal(baselines["naive"][:, 0], x[:, -1])
    np.testing.assert_array_equal(baselines["seasonal_naive"][3], values[origins[3] - 24:origins[3] - 16])
    smoothed = baselines["exponential_smoothing"][5]  # as statsmodels forecasts from the series cut at the origin
    fitted = ExponentialSmoothing(values[: task.parts["train"][1]], trend="add", seasonal="add", seasonal_periods=24,
                                  initialization_method="estimated").fit().params
    cut = ExponentialSmoothing(values[: origins[5]], trend="add", seasonal="add", seasonal_periods=24,
                               initialization_method="known", initial_level=fitted["initial_level"],
                               initial_trend=fitted["initial_trend"], initial_seasonal=fitted["initial_seasons"]).fit(
        smoothing_level=fitted["smoothing_level"], smoothing_trend=fitted["smoothing_trend"],
        smoothing_seasonal=fitted["smoothing_seasonal"], optimized=False)
    np.testing.assert_allclose(smoothed, cut.forecast(8), rtol=1e-6)


def test_a_refitted_baseline_is_fitted_on_the_steps_before_each_origin_and_scored_per_step(tmp_path):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = write_sine(tmp_path, steps=600)
    task = task_of(tmp_path, refit_baseline=True, limit=6)
    task.load(batch_size=16)
    _, y, origins = task.arrays["test"]
    refitted = task.test_baselines["exponential_smoothing"]
    for i in (0, 5):
        alone = ExponentialSmoothing(values[:origins[i]], trend="add", seasonal="add", seasonal_periods=24,
                                     initialization_method="estimated").fit()
        np.testing.assert_allclose(refitted[i], alone.forecast(8), rtol=1e-6)
    scores = forecast.errors(refitted, y, task.scale)
    by_hand = [100 * np.mean(np.abs(refitted[:, h] - y[:, h]) / np.abs(y[:, h])) for h in range(8)]
    assert scores["mape_by_step"] == pytest.approx(by_hand)


def test_window_scaling_reads_changes_from_the_last_value(tmp_path):
    write_sine(tmp_path, steps=400, level=5000.0)
    task = task_of(tmp_path, scaling=forecast.Scaling.window)
    _, splits = task.load(batch_size=16)
    window, future = next(iter(splits.train))
    assert np.all(window.numpy()[:, -1, 0] == 0)  # every window ends at 0: the model reads changes
    x, y, _ = task.arrays["test"]
    still = task.forecasts(lambda batch: np.zeros((len(batch), 8), "float32"), x)  # a model that forecasts no change
    np.testing.assert_allclose(still, np.repeat(x[:, -1:], 8, axis=1))  # is the last value, in the series' units
