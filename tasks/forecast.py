"""Forecasting a real time series (window -> horizon): `task.window` steps in, the next `task.horizon` steps out.

Series that ship offline inside well-kept packages, each with its frequency and season known here:
  sunspots     monthly mean sunspot numbers, 1749-1983 (pmdarima): an 11-year cycle, 132 steps
  electricity  half-hourly electricity demand of England and Wales, June-August 2000 (pmdarima's Taylor data):
               daily (48 steps) and weekly (336) seasons
  msft         Microsoft's daily closing price, 1986-2017 (pmdarima): close to a random walk
  co2          weekly Mauna Loa CO2, 1958-2001 (statsmodels): trend and a yearly season; its 59 missing weeks
               are interpolated
  file         any CSV: `task.file`, `task.column`, optionally `task.date_column` and `task.frequency`

The protocol forecasters expect: the series is split in time (train, then validation, then test; with
`task.split_date`, test is everything after that date), never shuffled across the split. A window belongs to
the part its forecast steps lie in (its input may reach back into earlier parts: that history is known when the
forecast is made); training and validation windows never forecast a step of a later part. Scaling (mean and
deviation) and the MASE scale come from the training part only; with `task.scaling=window` every window is
read relative to its own last value, so a level never seen in training (a price that has risen) reads as the
changes it holds. Every score is in the series' own units, and
the baselines (last value, seasonal naive, a linear autoregression on the same window) are scored on exactly
the same test windows.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.errors import DataError
from zoo.lazy import lazy_import
from zoo.task import Example, InputForm, Splits, TaskConfig, batched
from zoo.task import Task as BaseTask
from zoo.validation import require_fractions, require_positive

keras = lazy_import("keras")
pd = lazy_import("pandas")
tf = lazy_import("tensorflow")

BASELINES = ("naive", "seasonal_naive", "linear", "exponential_smoothing")


class Series(Enum):
    sunspots = "monthly mean sunspot numbers, 1749-1983 (pmdarima)"
    electricity = "half-hourly electricity demand, England and Wales, June-August 2000 (pmdarima's Taylor data)"
    msft = "Microsoft's daily closing price, 1986-2017 (pmdarima)"
    co2 = "weekly Mauna Loa CO2, 1958-2001 (statsmodels); missing weeks interpolated"
    file = "task.file's task.column"


class Scaling(Enum):
    series = "every value standardized by the training part's mean and deviation"
    window = "every window relative to its last value, in units of the training part's deviation"


SEASONS = {Series.sunspots: 132, Series.electricity: 48, Series.msft: 1, Series.co2: 52}  # steps per season


@dataclass
class Config(TaskConfig):
    name: str = "forecast"
    topology: str = "many_to_one"
    series: Series = Series.sunspots
    window: int = 125  # steps read
    horizon: int = 36  # steps forecast
    season: Optional[int] = None  # steps per season (seasonal naive, MASE); null: the series' own (1 for a file)
    val_fraction: float = 0.1
    test_fraction: float = 0.2  # of the steps, the last ones; unless split_date is set
    split_date: Optional[str] = None  # test is every step after this date (sunspots with darts: 1940-10)
    stride: int = 1  # steps between the origins of two test windows
    refit_baseline: bool = False  # exponential smoothing fitted anew before each test window (rolling origin)
    scaling: Scaling = Scaling.series  # window: the model reads and forecasts changes from the window's last value
    file: Optional[str] = None  # series=file: a CSV (relative to paths.data_dir, or absolute)
    column: Optional[str] = None  # the file's column to forecast
    date_column: Optional[str] = None  # the file's column of dates, if it has one
    frequency: Optional[str] = None  # pandas offset alias (D, W-SUN, MS, 30min, ...); null: inferred from the dates

    def __post_init__(self):
        super().__post_init__()
        require_positive("task", self, "window", "horizon", "season", "stride")
        require_fractions("task", self, "val_fraction", "test_fraction")
        if (self.series == Series.file) != (self.file is not None and self.column is not None):
            raise DataError("task.series=file reads task.file's task.column, and only it does: give both with "
                            "series=file" if self.series == Series.file else
                            f"task.file and task.column are for task.series=file (this run: {self.series.name})")


def load_series(cfg: Config, data_dir: Path) -> tuple[np.ndarray, Optional[pd.DatetimeIndex], int]:
    """The series' values, their dates (None where it has none) and how many missing values were filled."""
    if cfg.series == Series.file:
        path = Path(cfg.file) if Path(cfg.file).is_absolute() else Path(data_dir) / cfg.file
        values, dates = read_csv(path, cfg.column, cfg.date_column, cfg.frequency)
        return values, dates, 0
    from pmdarima import datasets

    if cfg.series == Series.sunspots:
        series = datasets.load_sunspots(as_series=True)
        series.index = pd.to_datetime(series.index, format="%b %Y")
    elif cfg.series == Series.electricity:
        series = datasets.load_taylor(as_series=True)
        series.index = pd.date_range("2000-06-05", periods=len(series), freq="30min")
    elif cfg.series == Series.msft:
        table = datasets.load_msft()
        series = pd.Series(table.Close.to_numpy(), index=pd.to_datetime(table.Date))
    else:
        from statsmodels.datasets import co2

        series = co2.load_pandas().data.co2
    missing = int(series.isna().sum())
    return series.interpolate().to_numpy("float64"), pd.DatetimeIndex(series.index), missing


def read_csv(path: Path, column: str, date_column: Optional[str], frequency: Optional[str]):
    """A column of a CSV as float values in the file's order, with its dates; every way the file cannot be a
    series (missing, unreadable, no such column, values that are not numbers or missing, dates out of order or
    with a step skipped) as one line."""
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"task.file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"task.file {path} is not a readable CSV: {str(e).strip().splitlines()[0]}") from None
    for name in (column, date_column):
        if name is not None and name not in table.columns:
            raise DataError(f"{path} has no column {name!r}; its columns: {', '.join(map(str, table.columns))}")
    values = pd.to_numeric(table[column], errors="coerce")
    if bad := [i for i in np.flatnonzero(values.isna()) if str(table[column].iloc[i]).strip() not in ("", "nan")]:
        raise DataError(f"{path} column {column!r} has values that are not numbers, first on row {bad[0] + 2}: "
                        f"{table[column].iloc[bad[0]]!r}")
    if values.isna().any():
        rows = np.flatnonzero(values.isna()) + 2
        raise DataError(f"{path} column {column!r} has no value on {len(rows)} rows (gaps), first row {rows[0]}; "
                        "fill or drop them")
    if date_column is None:
        return values.to_numpy("float64"), None
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(table[date_column]))
    except (ValueError, TypeError) as e:
        raise DataError(f"{path} column {date_column!r} is not dates: {str(e).splitlines()[0]}") from None
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise DataError(f"{path} column {date_column!r}: dates must increase from row to row")
    frequency = frequency or (pd.infer_freq(dates) if len(dates) >= 3 else None)
    if frequency is not None:
        expected = pd.date_range(dates[0], periods=len(dates), freq=frequency)
        if not expected.equals(dates):
            at = int(np.argmax(expected != dates))
            raise DataError(f"{path}: the dates skip a step ({frequency}) after {dates[at - 1].date()}, on row "
                            f"{at + 2} ({dates[at].date()}); fill the gap or set task.frequency")
    return values.to_numpy("float64"), dates


def windows(values: np.ndarray, window: int, horizon: int, first: int, end: int, stride: int = 1):
    """The (input, future) pairs whose future steps lie in values[first:end], origins `stride` apart; each
    window's input is the `window` steps before its future."""
    starts = np.arange(max(first, window), end - horizon + 1, stride)
    inputs = np.stack([values[s - window:s] for s in starts]) if len(starts) else np.zeros((0, window))
    futures = np.stack([values[s:s + horizon] for s in starts]) if len(starts) else np.zeros((0, horizon))
    return inputs, futures, starts


def exponential_smoothing(values: np.ndarray, train_end: int, season: int, origins: np.ndarray,
                          horizon: int, refit: bool = False) -> np.ndarray:
    """Holt-Winters forecasts (additive trend, and an additive season where the series has one and the training
    part holds two of them), fitted on the training part; with those parameters the smoothing then runs over
    the whole series, so the forecast from each origin reads only the steps before it. With `refit`, a model is
    fitted anew on all the steps before each origin (a rolling-origin backtest; one fit per test window)."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = season > 1 and train_end >= 2 * season + 2
    form = {"trend": "add", "seasonal": "add" if seasonal else None, "seasonal_periods": season if seasonal else None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence and frequency notes
        if refit:
            return np.stack([ExponentialSmoothing(values[:origin], initialization_method="estimated", **form)
                             .fit().forecast(horizon) for origin in origins])
        fitted = ExponentialSmoothing(values[:train_end], initialization_method="estimated", **form).fit().params
        smoothed = ExponentialSmoothing(
            values, initialization_method="known", initial_level=fitted["initial_level"],
            initial_trend=fitted["initial_trend"], initial_seasonal=fitted["initial_seasons"] if seasonal else None,
            **form).fit(smoothing_level=fitted["smoothing_level"], smoothing_trend=fitted["smoothing_trend"],
                        smoothing_seasonal=fitted["smoothing_seasonal"] if seasonal else None, optimized=False)
    steps = np.arange(1, horizon + 1)
    last = origins[:, None] - 1  # the states after the window's last step
    forecasts = smoothed.level[last] + steps[None, :] * smoothed.trend[last]
    if seasonal:
        forecasts += smoothed.season[last + steps[None, :] - season * ((steps[None, :] - 1) // season + 1)]
    return forecasts


def linear_autoregression(windows: np.ndarray, futures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares weights (window, horizon) and bias (horizon,) from windows to futures."""
    from sklearn.linear_model import LinearRegression

    fitted = LinearRegression().fit(windows, futures)
    return fitted.coef_.T, fitted.intercept_


def errors(predicted: np.ndarray, actual: np.ndarray, scale: float) -> dict:
    """MAE, RMSE, MASE (MAE over the training part's seasonal-naive MAE), sMAPE and MAPE (in %, over nonzero
    actual values), and the MAE and MAPE at every horizon step."""
    difference = predicted - actual
    nonzero = actual != 0
    denominator = np.abs(actual) + np.abs(predicted)
    return {
        "mae": float(np.mean(np.abs(difference))),
        "rmse": float(np.sqrt(np.mean(difference ** 2))),
        "mase": float(np.mean(np.abs(difference)) / scale),
        "smape": float(200 * np.mean(np.where(denominator > 0, np.abs(difference) / np.maximum(denominator, 1e-12),
                                              0.0))),
        "mape": float(100 * np.mean(np.abs(difference[nonzero] / actual[nonzero]))),
        "mae_by_step": [float(e) for e in np.mean(np.abs(difference), axis=0)],
        "mape_by_step": [float(e) for e in 100 * np.sum(np.abs(difference) / np.where(nonzero, np.abs(actual), 1)
                                                        * nonzero, axis=0) / np.maximum(nonzero.sum(axis=0), 1)],
    }


@dataclass(frozen=True)
class History:
    """A series' last values (the last task.window, or a season where that is longer) and their last date, as
    `zoo.predict --file` reads them."""

    values: np.ndarray
    last_date: Optional[str] = None


class Task(BaseTask):
    inputs = "series"
    outputs = "values"
    primary_metric = "mase"
    primary_goal = "min"
    form = InputForm(help="--example N (a test window), or --file a CSV with the training file's columns (a packaged "
                          "series: value, date) and at least task.window rows -> the next task.horizon values (and "
                          "their dates)", kind="example", whole_file=True)
    smoke_test = ("task.window=24", "task.horizon=6")

    def load(self, batch_size: int):
        values, dates, self.filled = load_series(self.cfg, self.data_dir)
        n, window, horizon = len(values), self.cfg.window, self.cfg.horizon
        if self.cfg.split_date is not None:
            if dates is None:
                raise DataError("task.split_date needs a series with dates")
            test_start = int(np.searchsorted(dates, pd.Timestamp(self.cfg.split_date), side="right"))
        else:
            test_start = n - int(n * self.cfg.test_fraction)
        val_start = test_start - int(n * self.cfg.val_fraction)
        parts = {"train": (0, val_start), "val": (val_start, test_start), "test": (test_start, n)}
        self.season = self.cfg.season or SEASONS.get(self.cfg.series, 1)
        train = values[:val_start]
        if len(train) < window + horizon + self.season:
            raise DataError(f"the series has {n} steps and its training part {len(train)}: too short for "
                            f"task.window={window} + task.horizon={horizon} (and a season of {self.season})")
        self.mean, self.std = float(train.mean()), float(train.std() or 1.0)
        self.scale = float(np.mean(np.abs(train[self.season:] - train[:-self.season])))  # seasonal-naive MAE
        self.values, self.dates, self.parts = values, dates, parts
        self.frequency = self.cfg.frequency or (pd.infer_freq(dates[:1000]) if dates is not None else None)
        arrays = {}
        for name, (first, end) in parts.items():
            x, y, origins = windows(values, window, horizon, first, end, self.cfg.stride if name == "test" else 1)
            if len(y) == 0:
                raise DataError(f"the {name} part ({end - first} steps) holds no window of task.horizon={horizon} "
                                "steps; use a shorter horizon or a larger share")
            arrays[name] = (x[: self.cfg.limit], y[: self.cfg.limit], origins[: self.cfg.limit])
        self.arrays = arrays
        self.linear_weights, self.linear_bias = linear_autoregression(*arrays["train"][:2])
        splits = Splits(*(batched(tf.data.Dataset.from_tensor_slices(self.scaled(arrays[name][:2])),
                                  len(arrays[name][1]), batch_size, name == "train", self.seed)
                          for name in ("train", "val", "test")),
                        sizes={name: len(y) for name, (_, y, _) in arrays.items()})
        return self.make_spec(input_size=1, output_size=1, output_length=horizon), splits

    def offsets(self, windows: np.ndarray) -> np.ndarray:
        """What `task.scaling` subtracts from each window (n, window) and its future: the training mean, or the
        window's last value."""
        return windows[:, -1:] if self.cfg.scaling == Scaling.window else np.full((len(windows), 1), self.mean)

    def model_input(self, windows: np.ndarray) -> np.ndarray:
        return ((windows - self.offsets(windows)) / self.std)[..., None].astype("float32")

    def scaled(self, pair):
        x, y = pair
        return self.model_input(x), ((y - self.offsets(x)) / self.std).astype("float32")

    def loss(self):
        return keras.losses.MeanSquaredError()

    def metrics(self) -> list:
        from zoo.layers import ScaledAbsoluteError

        return [ScaledAbsoluteError(self.scale / self.std)]

    def forecasts(self, predict, inputs: np.ndarray) -> np.ndarray:
        """The model's forecasts, in the series' units, for windows of raw values (n, window)."""
        scaled = self.model_input(inputs)
        out = [predict(scaled[i:i + 256]) for i in range(0, len(scaled), 256)]
        return np.concatenate(out) * self.std + self.offsets(inputs)

    def seasonal_naive(self, histories: np.ndarray) -> np.ndarray:
        """Each step's value one season (or more) before, from histories (n, at least season steps)."""
        steps = np.arange(self.cfg.horizon)
        return histories[:, histories.shape[1] - self.season + steps % self.season]

    def linear(self, windows: np.ndarray) -> np.ndarray:
        """The linear autoregression (least squares on the training windows) on windows (n, window)."""
        return windows @ self.linear_weights + self.linear_bias

    @cached_property
    def test_baselines(self) -> dict[str, np.ndarray]:
        """Each baseline's forecasts for the test windows."""
        x, _, origins = self.arrays["test"]
        return {"naive": np.repeat(x[:, -1:], self.cfg.horizon, axis=1),
                "seasonal_naive": self.seasonal_naive(np.stack([self.values[o - self.season:o] for o in origins])),
                "linear": self.linear(x),
                "exponential_smoothing": exponential_smoothing(self.values, self.parts["train"][1], self.season,
                                                               origins, self.cfg.horizon, self.cfg.refit_baseline)}

    def test_metrics(self, predict, splits, run_dir: Path) -> dict:
        x, y, _ = self.arrays["test"]
        forecasts = self.forecasts(predict, x)
        scores = errors(forecasts, y, self.scale)
        scores["baselines"] = {name: errors(forecast, y, self.scale) for name, forecast in self.test_baselines.items()}
        self.plot_samples(forecasts, scores, run_dir / "samples.png")
        return scores

    def plot_samples(self, forecasts: np.ndarray, scores: dict, path: Path) -> None:
        """The middle test window (what was read, what came, the model's and the baselines' forecasts) beside
        the MAE at each horizon step."""
        from matplotlib.figure import Figure

        x, y, origins = self.arrays["test"]
        i = len(y) // 2
        figure = Figure(figsize=(11, 3.2))
        window, by_step = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        after = np.arange(1, self.cfg.horizon + 1)
        window.plot(np.arange(1 - self.cfg.window, 1), x[i], color="grey", label="the window")
        window.plot(after, y[i], "k--", label="what came")
        for name, forecast in self.test_baselines.items():
            window.plot(after, forecast[i], lw=0.8, alpha=0.7, label=name)
        window.plot(after, forecasts[i], color="crimson", lw=2, label="the model")
        start = f" (origin {self.dates[origins[i]].date()})" if self.dates is not None else ""
        window.set(title=f"test window {i}{start}", xlabel="steps after the window's last")
        window.legend(fontsize=7, ncol=2)
        for name, baseline in scores["baselines"].items():
            by_step.plot(after, baseline["mae_by_step"], lw=0.8, alpha=0.7, label=name)
        by_step.plot(after, scores["mae_by_step"], color="crimson", lw=2, label="the model")
        by_step.set(title="MAE at each horizon step (test)", xlabel="horizon step")
        figure.tight_layout()
        figure.savefig(path, dpi=80)

    def extras(self) -> dict:
        """The series and its split; the window as the distance `zoo.diagnose long-dependency` plots against,
        with the linear autoregression on the same window as its baseline."""
        first, end = self.parts["test"]
        _, y, _ = self.arrays["test"]
        described = {"series": self.cfg.series.name, "season": self.season, "filled_values": self.filled,
                     "mase_scale": self.scale, "test_steps": end - first,
                     "distance": self.cfg.window, "distance_label": "task.window (steps read)",
                     "baseline_mase": errors(self.test_baselines["linear"], y, self.scale)["mase"],
                     "baseline_label": "linear AR on the same window"}
        if self.dates is not None:
            described["test_from"] = str(self.dates[first])
        return described

    # using a trained run

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std, "scale": self.scale, "season": self.season,
                "frequency": self.frequency, "linear_weights": self.linear_weights.tolist(),
                "linear_bias": self.linear_bias.tolist()}

    def restore(self, state: dict) -> None:
        self.mean, self.std, self.scale, self.season = state["mean"], state["std"], state["scale"], state["season"]
        self.frequency = state["frequency"]
        if "linear_weights" in state:  # runs saved before the answers carried the baselines have no linear AR
            self.linear_weights, self.linear_bias = np.array(state["linear_weights"]), np.array(state["linear_bias"])

    def parse(self, text: str) -> History:
        """A CSV file with the training file's columns (for a packaged series: `value`, and `date` if it has
        dates): its last `task.window` values, and the last date."""
        if self.cfg.series == Series.file:
            column, date_column = self.cfg.column, self.cfg.date_column
        else:
            column, date_column = "value", "date" if self.frequency else None
        values, dates = read_csv(Path(text), column, date_column, self.frequency)
        if len(values) < self.cfg.window:
            raise DataError(f"{text} has {len(values)} values; the model reads task.window={self.cfg.window}")
        return History(values[-max(self.cfg.window, self.season):], None if dates is None else str(dates[-1]))

    def answer(self, run, inputs: list, steps: bool = False) -> list[dict]:
        """The next task.horizon values after each history (and their dates), with the baselines' forecasts
        beside them: all four for a test window (as scored), and for a file the last value, the seasonal naive
        (where the file holds a season) and the linear autoregression."""
        if not hasattr(self, "arrays") and any(isinstance(raw, Example) for raw in inputs):
            self.load(batch_size=256)  # the test windows again
        histories, expected, baselines = [], [], []
        for raw in inputs:
            if isinstance(raw, Example):
                x, y, origins = self.arrays["test"]
                if not 0 <= raw.index < len(y):
                    raise DataError(f"--example {raw.index}: the test split has windows 0 to {len(y) - 1}")
                last = str(self.dates[origins[raw.index] - 1]) if self.dates is not None else None
                histories.append(History(x[raw.index], last))
                expected.append(y[raw.index])
                baselines.append({name: forecast[raw.index] for name, forecast in self.test_baselines.items()})
            else:
                histories.append(raw)
                expected.append(None)
                baselines.append(self.history_baselines(raw.values))
        windows = np.stack([h.values[-self.cfg.window:] for h in histories])
        predicted = self.forecasts(run.ids, windows)
        answers = []
        for history, values, right, baseline in zip(histories, predicted, expected, baselines):
            answer = {"forecast": [round(float(v), 6) for v in values], "history": [float(v) for v in history.values],
                      "baselines": {name: [round(float(v), 6) for v in forecast]
                                    for name, forecast in baseline.items()}}
            if history.last_date is not None and self.frequency:
                dates = pd.date_range(pd.Timestamp(history.last_date), periods=len(values) + 1,
                                      freq=self.frequency)[1:]
                answer["dates"] = [str(d) for d in dates]
            if right is not None:
                answer["expected"] = [float(v) for v in right]
            if steps:
                window = history.values[-self.cfg.window:]
                answer["steps"] = [{"token": f"t-{len(window) - i}", **trace}
                                   for i, trace in enumerate(run.gate_trace(self.model_input(window[None, :])))]
            answers.append(answer)
        return answers

    def history_baselines(self, history: np.ndarray) -> dict[str, np.ndarray]:
        forecasts = {"naive": np.repeat(history[-1], self.cfg.horizon)}
        if len(history) >= self.season > 1:
            forecasts["seasonal_naive"] = self.seasonal_naive(history[None, :])[0]
        if hasattr(self, "linear_weights"):
            forecasts["linear"] = self.linear(history[None, -self.cfg.window:])[0]
        return forecasts

    def test_inputs(self, count: int) -> list[tuple]:
        _, y, _ = self.arrays["test"]
        return [(Example(i), [float(v) for v in y[i]]) for i in range(min(count, len(y)))]

