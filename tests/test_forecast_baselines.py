"""Weekly naive and LEAR on the epftoolbox files: LEAR against scikit-learn's LassoLarsIC + Lasso (the
toolbox's own estimator), pinned forecasts, no look-ahead, calibrated coverage, and the backtest command line."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Lasso, LassoLarsIC

from engine.forecast import lear
from engine.forecast.__main__ import main
from engine.forecast.backtest import backtest
from engine.forecast.base import PRICE, Prediction, visible
from engine.forecast.calibration import Calibrator
from engine.forecast.epftoolbox import read_epftoolbox
from engine.forecast.naive import WeeklyNaive

pytestmark = pytest.mark.realdata

DAY = pd.Timestamp("2016-12-27")  # the first test day of NP in the paper
# LEAR(windows=(56, 84)) for NP on 2016-12-27, calibrated on the 120 days before it, with λ chosen on the
# inputs as given (normalize=False) and on unit-norm columns (True); computed once by this implementation and
# reproduced below by scikit-learn's LassoLarsIC + Lasso.
PINNED_NP_LEAR = {
    False: [26.0239, 25.9086, 25.6582, 25.8063, 26.3458, 26.6965, 28.2505, 30.9378, 31.0324, 29.7864, 30.8919,
            30.7150, 30.7152, 29.7927, 30.2180, 31.3475, 32.3803, 32.4274, 31.7664, 31.0748, 30.5894, 29.7128,
            29.0348, 27.9249],
    True: [25.0457, 24.3359, 23.9023, 23.6818, 24.0368, 23.7229, 26.5846, 29.2254, 28.3373, 27.4293, 27.3447,
           27.3423, 27.9840, 29.3919, 30.5224, 30.7855, 30.6688, 32.6401, 30.7295, 29.0194, 28.3913, 28.1050,
           27.0493, 25.7130],
}


@pytest.fixture(scope="module")
def np_data(data_dir):
    return read_epftoolbox(data_dir / "markets" / "epftoolbox" / "NP.csv")


@pytest.fixture(scope="module")
def np_frame(np_data):
    return np_data.frame.loc[(np_data.frame.index >= DAY - pd.Timedelta(days=200))
                             & (np_data.frame.index < DAY + pd.Timedelta(days=30))]


def test_reader_keeps_the_file_times_and_reads_columns_by_position(np_data, data_dir):
    frame = np_data.frame
    assert list(frame.columns) == [PRICE, "exog1", "exog2"]
    assert len(frame) == 52416 and frame.index[0] == pd.Timestamp("2013-01-01")
    assert np_data.written.iloc[0] == "2013-01-01 00:00:00"
    assert frame.iloc[0].tolist() == [31.05, 42497.0, 2798.0]
    de = read_epftoolbox(data_dir / "markets" / "epftoolbox" / "DE.csv")  # first column has no header
    assert list(de.frame.columns) == [PRICE, "exog1", "exog2"] and de.frame[PRICE].iloc[0] == 34.97


def test_weekly_naive_is_the_price_a_week_earlier_and_repeats_the_last_week(np_frame):
    seen = visible(np_frame, DAY, 336)
    point = WeeklyNaive().predict(seen, DAY, 336).point
    week = np_frame.loc[DAY - pd.Timedelta(hours=168): DAY - pd.Timedelta(hours=1), PRICE].to_numpy()
    np.testing.assert_array_equal(point[:168], week)
    np.testing.assert_array_equal(point[168:], week)


def test_features_follow_the_toolbox_layout(np_frame):
    days, prices, exogenous = lear.daily(np_frame)
    d = int(np.flatnonzero(days == DAY)[0])
    x = lear.features(days, prices, exogenous, np.array([d]))[0]
    assert x.size == 96 + 2 * 72 + 7
    p = np_frame[PRICE]
    hour = pd.Timedelta(hours=1)
    # hour 5: prices of d−1, d−2, d−3, d−7 at 05:00
    assert x[5 * 4: 5 * 4 + 4].tolist() == [p[DAY + 5 * hour - pd.Timedelta(days=k)] for k in (1, 2, 3, 7)]
    # hour 5: exog1, exog2 of d−1, then of d−7, then of d itself
    e = np_frame[["exog1", "exog2"]]
    at = [DAY + 5 * hour - pd.Timedelta(days=k) for k in (1, 7, 0)]
    assert x[96 + 5 * 6: 96 + 5 * 6 + 6].tolist() == [v for t in at for v in e.loc[t].tolist()]
    assert x[-7:].tolist() == [0, 1, 0, 0, 0, 0, 0]  # 2016-12-27 is a Tuesday


def _window(np_frame, window):
    days, prices, exogenous = lear.daily(np_frame.loc[np_frame.index < DAY])
    targets = np.arange(len(days) - window + lear.MAX_LAG, len(days))
    x, y = lear.features(days, prices, exogenous, targets), prices[targets]
    x_scaler, y_scaler = lear._InvariantScaler(x[:, :-7]), lear._InvariantScaler(y)
    x = x.copy()
    x[:, :-7] = x_scaler.transform(x[:, :-7])
    return x, y_scaler.transform(y), x_scaler, y_scaler


@pytest.mark.parametrize("window", [56])
def test_lambda_and_coefficients_match_sklearn_lassolarsic_then_lasso(np_frame, window):
    x, y, _, _ = _window(np_frame, window)
    alphas, coefs, intercepts = lear.lasso_aic(x, y)
    for h in (0, 8, 19):
        reference = LassoLarsIC(criterion="aic", max_iter=2500, noise_variance=np.var(y[:, h])).fit(x, y[:, h])
        assert alphas[h] == pytest.approx(reference.alpha_, rel=1e-9)
        np.testing.assert_allclose(coefs[h], reference.coef_, atol=1e-10)
        assert intercepts[h] == pytest.approx(reference.intercept_, abs=1e-10)
        # The toolbox's refit: Lasso at that λ. Converged, it is the same solution ...
        exact = Lasso(alpha=reference.alpha_, tol=1e-12, max_iter=1_000_000).fit(x, y[:, h])
        np.testing.assert_allclose(coefs[h], exact.coef_, atol=1e-8)
        # ... and the toolbox's own settings (tol 1e-4, max_iter 2500) stop a little short of it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            toolbox = Lasso(alpha=reference.alpha_, max_iter=2500).fit(x, y[:, h])
        np.testing.assert_allclose(coefs[h], toolbox.coef_, atol=2e-2)


@pytest.mark.slow
@pytest.mark.parametrize("normalize", [False, True])
def test_lear_forecast_is_pinned_and_equals_the_sklearn_reference(np_frame, normalize):
    model = lear.LEAR(windows=(56, 84), normalize=normalize)
    model.fit(np_frame.loc[np_frame.index < DAY])
    point = model.predict(visible(np_frame, DAY, 24), DAY, 24).point
    np.testing.assert_allclose(point, PINNED_NP_LEAR[normalize], atol=1e-4)

    seen = visible(np_frame, DAY, 24)
    days, prices, exogenous = lear.daily(seen.loc[seen.index >= DAY - pd.Timedelta(days=7)])
    row = lear.features(days, prices, exogenous, np.array([7]))
    forecasts = []
    for window in (56, 84):
        x, y, x_scaler, y_scaler = _window(np_frame, window)
        centred = x - x.mean(axis=0)
        norms = np.sqrt((centred ** 2).sum(axis=0)) if normalize else np.ones(x.shape[1])
        norms[norms == 0] = 1.0
        scaled = row.copy()
        scaled[:, :-7] = x_scaler.transform(row[:, :-7])
        hours = []
        for h in range(24):
            ic = LassoLarsIC(criterion="aic", max_iter=2500, noise_variance=np.var(y[:, h]))
            alpha = ic.fit(centred / norms, y[:, h]).alpha_
            hours.append(Lasso(alpha=alpha, tol=1e-12, max_iter=1_000_000).fit(x, y[:, h]).predict(scaled)[0])
        forecasts.append(y_scaler.inverse(np.array(hours)[None, :])[0])
    np.testing.assert_allclose(point, np.mean(forecasts, axis=0), atol=1e-6)


def test_lear_beyond_a_day_feeds_its_own_forecasts_back(np_frame):
    model = lear.LEAR(windows=(56,))
    model.fit(np_frame.loc[np_frame.index < DAY])
    two_days = model.predict(visible(np_frame, DAY, 48), DAY, 48).point
    one_day = model.predict(visible(np_frame, DAY, 24), DAY, 24).point
    np.testing.assert_allclose(two_days[:24], one_day)
    assert np.isfinite(two_days).all() and not np.allclose(two_days[24:], two_days[:24])


@pytest.mark.parametrize("model", ["naive", "lear"])
def test_no_look_ahead_changing_future_rows_leaves_the_forecast_alone(np_frame, model):
    def make():
        return WeeklyNaive() if model == "naive" else lear.LEAR(windows=(56,))

    changed = np_frame.copy()
    future = changed.index >= DAY
    changed.loc[future, PRICE] = changed.loc[future, PRICE] * 3 + 100
    changed.loc[changed.index >= DAY + pd.Timedelta(days=1), ["exog1", "exog2"]] = 1.0
    first = backtest(np_frame, make, DAY, DAY, "daily", warmup_days=0).frame
    second = backtest(changed, make, DAY, DAY, "daily", warmup_days=0).frame
    np.testing.assert_array_equal(first["forecast"], second["forecast"])
    assert not np.array_equal(first["actual"], second["actual"])


@pytest.mark.parametrize("name", ["NP", "DE"])
def test_calibrated_90_percent_band_covers_held_out_days(data_dir, name):
    frame = read_epftoolbox(data_dir / "markets" / "epftoolbox" / f"{name}.csv").frame
    frame = frame.loc["2016-01-01":"2016-08-31"]
    result = backtest(frame, "naive", "2016-03-01", "2016-08-31", "daily", warmup_days=28)
    quantiles = result.frame.filter(regex=r"^q\d\d$").to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()
    assert 0.85 <= result.scores.coverage90 <= 0.95
    assert 0.45 <= result.scores.coverage50 <= 0.55


def test_calibrator_tracks_a_volatility_shift_with_past_residuals_only():
    rng = np.random.default_rng(7)
    calibrator = Calibrator("synthetic")
    inside = []
    for day, start in enumerate(pd.date_range("2024-01-01", periods=240, freq="D")):
        times = pd.date_range(start, periods=24, freq="h")
        prediction = Prediction(start=start, point=np.full(24, 50.0))
        forecast = calibrator.forecast(prediction, times)
        again = calibrator.forecast(prediction, times)
        np.testing.assert_array_equal(forecast.quantiles, again.quantiles)  # forecasting learns nothing
        sigma = 2.0 if day < 120 else 8.0  # volatility quadruples half way
        actual = 50.0 + sigma * rng.standard_t(4, size=24)
        calibrator.update(times, actual, prediction)
        if day >= 150:
            inside.append((actual >= forecast.quantile(0.05)) & (actual <= forecast.quantile(0.95)))
    assert 0.86 <= np.mean(inside) <= 0.94


@pytest.mark.slow
def test_cli_backtest_writes_the_forecasts_and_prints_the_metrics(data_dir, tmp_path):
    data = data_dir / "markets" / "epftoolbox" / "NP.csv"
    out = tmp_path / "FORECASTS.csv"
    done = subprocess.run([sys.executable, "-m", "engine.forecast", "backtest", str(data), "--model", "naive",
                           "--test-start", "2017-01-02", "--test-end", "2017-01-08", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out, dtype={"time": str})
    assert len(written) == 7 * 24
    assert {"time", "forecast", "q05", "q25", "q50", "q75", "q95", "q01", "q99"} <= set(written.columns)
    assert written["time"].iloc[0] == "2017-01-02 00:00:00" and written["time"].iloc[-1] == "2017-01-08 23:00:00"
    assert (written.filter(regex=r"^q\d\d$").diff(axis=1).iloc[:, 1:] >= 0).all().all()
    assert "rmae 1.0000" in done.stdout and "coverage90" in done.stdout and "mae" in done.stdout
    # the naive forecast is last week's price, as written in the file
    source = pd.read_csv(data, dtype={0: str})
    at = source.index[source.iloc[:, 0] == "2016-12-26 00:00:00"][0]
    assert written["forecast"].iloc[0] == pytest.approx(source.iloc[at, 1])


def test_cli_error_without_traceback(data_dir, tmp_path):
    done = subprocess.run([sys.executable, "-m", "engine.forecast", "backtest", str(tmp_path / "missing.csv"),
                           "--model", "naive", "--test-start", "2017-01-02", "--test-end", "2017-01-08",
                           "--out", str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert "missing.csv: no such file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2017-13-02", "2017-01-08", "is not a date"),
    ("2017-01-08", "2017-01-02", "ends (2017-01-02) before it starts"),
    ("2018-12-20", "2019-01-08", "lies outside the data"),
    ("2013-01-10", "2013-01-12", "needs 35 days of history"),
])
def test_cli_errors_name_what_is_wrong(data_dir, tmp_path, capsys, start, end, message):
    out = tmp_path / "out.csv"
    code = main(["backtest", str(data_dir / "markets" / "epftoolbox" / "NP.csv"), "--model", "naive",
                 "--test-start", start, "--test-end", end, "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_country_without_known_holidays(data_dir, tmp_path, capsys):
    out = tmp_path / "out.csv"
    code = main(["backtest", str(data_dir / "markets" / "epftoolbox" / "NP.csv"), "--model", "naive",
                 "--test-start", "2017-01-02", "--test-end", "2017-01-08", "--country", "Norway", "--out", str(out)])
    assert code == 2
    assert "--country 'Norway' is not a country" in capsys.readouterr().err
    assert not out.exists()


def test_reader_rejects_a_file_that_is_not_epftoolbox(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Price\n2020-01-01 00:00:00,10\n2020-01-01 02:00:00,11\n")
    with pytest.raises(ValueError, match="not consecutive hours"):
        read_epftoolbox(bad)
    bad.write_text("Date,Price\n2020-01-01 00:00:00,ten\n")
    with pytest.raises(ValueError, match="line 2: column 2"):
        read_epftoolbox(bad)


class _Sampled:
    """A stochastic model's answer fixed in advance: the ensemble's arithmetic is what is under test."""
    name = "sampled"

    def fit(self, history):
        pass

    def predict(self, seen, start, hours=24):
        return Prediction(start=start, point=np.full(hours, 40.0),
                          samples=np.vstack([np.full(hours, 38.0), np.full(hours, 42.0)]))


def test_ensemble_averages_the_points_and_shifts_the_transformer_samples(np_frame):
    from engine.forecast.ensemble import Ensemble

    ensemble = Ensemble(_Sampled(), WeeklyNaive())
    ensemble.fit(np_frame.loc[np_frame.index < DAY])
    naive = WeeklyNaive().predict(visible(np_frame, DAY, 24), DAY, 24).point
    answer = ensemble.predict(visible(np_frame, DAY, 24), DAY, 24)
    np.testing.assert_allclose(answer.point, (40.0 + naive) / 2)
    np.testing.assert_allclose(answer.samples - answer.point, [[-2.0] * 24, [2.0] * 24])


def test_backtest_of_an_ensemble_scores_each_member_as_if_run_alone(np_frame):
    """The members' rows come free with the ensemble's run; each is calibrated by its own calibrator, so the
    naive member scores exactly what a backtest of the naive model alone does."""
    from engine.forecast.ensemble import Ensemble

    last = DAY + pd.Timedelta(days=6)
    together = backtest(np_frame, lambda: Ensemble(_Sampled(), WeeklyNaive()), DAY, last, "weekly", warmup_days=7)
    alone = backtest(np_frame, WeeklyNaive, DAY, last, "weekly", warmup_days=7)
    assert set(together.members) == {"transformer", "lear"}
    assert together.members["lear"].as_dict() == pytest.approx(alone.scores.as_dict())
    assert together.members["lear"].rmae == pytest.approx(1.0)
    np.testing.assert_allclose(together.member_points["lear"], alone.frame["forecast"])
    np.testing.assert_allclose(together.member_points["transformer"], 40.0)


def test_normalized_criterion_matches_the_old_sklearn_default(np_frame):
    """``normalize=True`` reproduces scikit-learn < 1.2's LassoLarsIC (normalize=True by default, when the
    toolbox was published): λ chosen on unit-norm centred columns, then Lasso at that λ on the inputs as given."""
    x, y, _, _ = _window(np_frame, 84)
    alphas, coefs, intercepts = lear.lasso_aic(x, y, normalize=True)
    centred = x - x.mean(axis=0)
    norms = np.sqrt((centred ** 2).sum(axis=0))
    norms[norms == 0] = 1.0
    for h in (3, 17):
        reference = LassoLarsIC(criterion="aic", max_iter=2500, noise_variance=np.var(y[:, h])).fit(centred / norms,
                                                                                                    y[:, h])
        assert alphas[h] == pytest.approx(reference.alpha_, rel=1e-9)
        refit = Lasso(alpha=reference.alpha_, tol=1e-12, max_iter=1_000_000).fit(x, y[:, h])
        np.testing.assert_allclose(coefs[h], refit.coef_, atol=1e-7)
        assert intercepts[h] == pytest.approx(refit.intercept_, abs=1e-7)


class _Counting(_Sampled):
    """Counts its fits and remembers the last history's end."""

    def __init__(self):
        self.ends = []

    def fit(self, history):
        self.ends.append(history.index[-1])


def test_daily_ensemble_backtest_refits_lear_daily_and_the_transformer_weekly(np_frame):
    """The benchmark recalibrates daily; the ensemble's transformer (minutes a fit) is refitted every 7 days
    whatever the recalibration, LEAR at every fit."""
    from engine.forecast.ensemble import Ensemble

    neural, linear = _Counting(), _Counting()
    last = DAY + pd.Timedelta(days=13)
    backtest(np_frame, lambda: Ensemble(neural, linear, transformer_every_days=7), DAY, last, "daily",
             warmup_days=7)
    assert len(linear.ends) == 1 + 14  # the warm-up's one fit, then every test day
    gaps = np.diff(pd.DatetimeIndex(neural.ends)) / pd.Timedelta(days=1)
    assert len(neural.ends) == 3 and list(gaps) == [7.0, 7.0]
    assert neural.ends[-1] == DAY + pd.Timedelta(days=7) - pd.Timedelta(hours=1)


def _members(neural: float | np.ndarray, linear: float | np.ndarray) -> dict[str, Prediction]:
    start = pd.Timestamp("2020-01-01")
    return {"transformer": Prediction(start=start, point=np.broadcast_to(np.asarray(neural, float), 24).copy()),
            "lear": Prediction(start=start, point=np.broadcast_to(np.asarray(linear, float), 24).copy())}


def test_ensemble_weight_moves_to_the_member_that_has_been_right():
    from engine.forecast.ensemble import MIN_DAYS, Ensemble

    ensemble = Ensemble(_Sampled(), WeeklyNaive())
    for day in range(MIN_DAYS - 1):  # too short a record: the even mix stays
        ensemble.observe(_members(40.0, 50.0), np.full(24, 42.0))
        assert ensemble.weight == 0.5, day
    ensemble.observe(_members(40.0, 50.0), np.full(24, 42.0))
    assert ensemble.weight == pytest.approx(0.8)  # 0.8·40 + 0.2·50 = 42
    assert ensemble.combine(_members(10.0, 20.0)).point == pytest.approx(np.full(24, 12.0))
    unknown = np.full(24, np.nan)  # a day whose prices are not known yet teaches nothing
    ensemble.observe(_members(0.0, 1000.0), unknown)
    assert ensemble.weight == pytest.approx(0.8)


def test_ensemble_backtest_weighs_each_day_by_the_days_before_it_only(np_frame):
    """Each day's mix is the grid weight with the least absolute error over the earlier forecast days (brute
    force here), so the ensemble never looks ahead; the warm-up's days count."""
    from engine.forecast.ensemble import MIN_DAYS, WEIGHT_DAYS, WEIGHT_GRID, Ensemble

    last = DAY + pd.Timedelta(days=13)
    result = backtest(np_frame, lambda: Ensemble(_Sampled(), WeeklyNaive()), DAY, last, "daily", warmup_days=7)
    first = DAY - pd.Timedelta(days=7)
    days = pd.date_range(first, last, freq="D")
    prices = np_frame["price"]
    naive = {d: prices.reindex(pd.date_range(d - pd.Timedelta(days=7), periods=24, freq="h")).to_numpy()
             for d in days}
    actual = {d: prices.reindex(pd.date_range(d, periods=24, freq="h")).to_numpy() for d in days}
    weights = []
    for i, d in enumerate(days):
        past = days[max(0, i - WEIGHT_DAYS):i]
        if len(past) < MIN_DAYS:
            w = 0.5
        else:
            errors = [np.mean([np.abs(g * 40.0 + (1 - g) * naive[p] - actual[p]).mean() for p in past])
                      for g in WEIGHT_GRID]
            w = WEIGHT_GRID[int(np.argmin(errors))]
        weights.append(w)
        if d >= DAY:
            got = result.member_points.loc[d: d + pd.Timedelta(hours=23)]
            expected = w * 40.0 + (1 - w) * naive[d]
            np.testing.assert_allclose(w * got["transformer"] + (1 - w) * got["lear"], expected)
    assert len(set(weights)) > 1  # the weight did move over the run
