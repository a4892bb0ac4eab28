"""The transformer forecaster on a slice of real prices (epftoolbox NP): it learns, repeats itself, never looks
ahead, trains the same in a spawned worker, and its registry round trip keeps it whole."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from engine.forecast.base import visible  # noqa: E402
from engine.forecast.registry import RegistryError, latest_model, load_model, record_model  # noqa: E402
from engine.forecast.transformer import TrainingError, TransformerModel, grid_search  # noqa: E402
from engine.forecast.worker import WorkerError, train_in_worker  # noqa: E402
from tests.support.processes import all_ended, children, running  # noqa: E402

#: A small network and a short window: seconds to train, still 6 layers deep as the product's.
TINY = {"width": 16, "depth": 2, "heads": 8, "window_days": 8, "val_days": 14, "max_epochs": 40, "patience": 8,
        "batch": 32, "samples": 50, "country": "NO"}
TRAIN_END = pd.Timestamp("2016-10-01")
TEST_DAYS = 14


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def np_frame(data_dir) -> pd.DataFrame:
    """Nord Pool's hourly prices and its two exogenous forecasts, read by position as the file's headers vary."""
    raw = pd.read_csv(data_dir / "markets" / "epftoolbox" / "NP.csv")
    frame = pd.DataFrame({"price": raw.iloc[:, 1].to_numpy(), "load": raw.iloc[:, 2].to_numpy(),
                          "wind": raw.iloc[:, 3].to_numpy()}, index=pd.DatetimeIndex(pd.to_datetime(raw.iloc[:, 0])))
    return frame.loc["2016-03-01":"2016-10-31"]


@pytest.fixture(scope="module")
def trained(np_frame) -> TransformerModel:
    torch.set_num_threads(1)
    model = TransformerModel(seed=3, **TINY)
    model.fit(np_frame.loc[np_frame.index < TRAIN_END])
    return model


def _days(frame: pd.DataFrame, model: TransformerModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    forecasts, actual, naive = [], [], []
    for d in range(TEST_DAYS):
        start = TRAIN_END + pd.Timedelta(days=d)
        forecasts.append(model.predict(visible(frame, start, 24), start, 24).point)
        hours = pd.date_range(start, periods=24, freq="h")
        actual.append(frame.loc[hours, "price"].to_numpy())
        naive.append(frame.loc[hours - pd.Timedelta(days=7), "price"].to_numpy())
    return np.concatenate(forecasts), np.concatenate(actual), np.concatenate(naive)


@pytest.mark.realdata
@pytest.mark.slow
def test_beats_weekly_naive_on_held_out_days(np_frame, trained):
    point, actual, naive = _days(np_frame, trained)
    mae, naive_mae = np.mean(np.abs(point - actual)), np.mean(np.abs(naive - actual))
    assert mae < 0.65 * naive_mae, (mae, naive_mae)  # 0.50 when written
    # and it forecasts the day's shape, not only its level: the median of the window it sees does worse
    level = np.concatenate([np.full(24, np_frame.loc[TRAIN_END + pd.Timedelta(days=d - TINY["window_days"]):
                                                     TRAIN_END + pd.Timedelta(days=d, hours=-1), "price"].median())
                            for d in range(TEST_DAYS)])
    assert mae < 0.85 * np.mean(np.abs(level - actual))  # 0.67 when written
    assert trained.metrics["val_mae"] < trained.metrics["val_naive_mae"]


@pytest.mark.realdata
def test_samples_are_a_spread_around_the_point(np_frame, trained):
    start = TRAIN_END
    p = trained.predict(visible(np_frame, start, 24), start, 24)
    assert p.samples.shape == (TINY["samples"], 24) and p.point.shape == (24,)
    assert np.allclose(p.point, np.median(p.samples, axis=0))
    assert (p.samples.std(axis=0) > 0).all()


@pytest.mark.realdata
def test_same_data_and_seed_give_the_same_forecast_and_bytes_keep_it(np_frame, trained):
    again = TransformerModel(seed=3, **TINY)
    again.fit(np_frame.loc[np_frame.index < TRAIN_END])
    start = TRAIN_END + pd.Timedelta(days=2)
    seen = visible(np_frame, start, 24)
    first = trained.predict(seen, start, 24)
    np.testing.assert_array_equal(first.samples, again.predict(seen, start, 24).samples)
    np.testing.assert_array_equal(first.samples, trained.predict(seen, start, 24).samples)
    restored = TransformerModel.from_bytes(trained.to_bytes())
    np.testing.assert_array_equal(first.samples, restored.predict(seen, start, 24).samples)
    other = TransformerModel(seed=4, **TINY)
    other.fit(np_frame.loc[np_frame.index < TRAIN_END])
    assert not np.array_equal(first.point, other.predict(seen, start, 24).point)


@pytest.mark.realdata
def test_prices_from_the_start_on_never_reach_the_forecast(np_frame, trained):
    start = TRAIN_END + pd.Timedelta(days=3)
    changed = np_frame.copy()
    changed.loc[changed.index >= start, "price"] *= -5  # the future, even unmasked, must not matter
    a = trained.predict(np_frame.loc[np_frame.index < start + pd.Timedelta(hours=24)], start, 24)
    b = trained.predict(changed.loc[changed.index < start + pd.Timedelta(hours=24)], start, 24)
    np.testing.assert_array_equal(a.samples, b.samples)
    # and the past does: the same forecast from a week-shifted price history differs
    past = np_frame.copy()
    past.loc[past.index < start, "price"] += 10
    assert not np.array_equal(a.point, trained.predict(visible(past, start, 24), start, 24).point)


@pytest.mark.realdata
def test_a_week_ahead_and_a_warm_start(np_frame):
    model = TransformerModel(seed=1, horizon=168, **{**TINY, "max_epochs": 3, "finetune_epochs": 1})
    model.fit(np_frame.loc[np_frame.index < TRAIN_END])
    seen = visible(np_frame, TRAIN_END, 168)
    before = model.predict(seen, TRAIN_END, 168)
    assert before.samples.shape == (TINY["samples"], 168)
    assert model.predict(seen, TRAIN_END, 30).point.shape == (30,)
    later = TRAIN_END + pd.Timedelta(days=7)
    model.fit(np_frame.loc[np_frame.index < later])  # fine-tunes on the newer week instead of starting over
    assert model.fits == 2 and model.metrics["epochs"] == 1
    assert not np.array_equal(before.point, model.predict(seen, TRAIN_END, 168).point)
    with pytest.raises(ValueError, match="1 to 168 hours"):
        model.predict(visible(np_frame, TRAIN_END, 169), TRAIN_END, 169)


@pytest.mark.realdata
def test_grid_search_scores_every_combination_on_the_validation_window(np_frame):
    steps = []
    grid = {"width": (8, 16), "depth": (1,), "dropout": (0.1,), "lr": (1e-3, 3e-3)}
    best, table = grid_search(np_frame.loc[np_frame.index < TRAIN_END], grid, seed=2,
                              progress=lambda done, total, message: steps.append((done, total)),
                              **{**TINY, "max_epochs": 2})
    assert len(table) == 4 and list(table.columns[:4]) == ["width", "depth", "dropout", "lr"]
    assert table["val_mae"].is_monotonic_increasing and (table["val_mae"] > 0).all()
    assert {k: best[k] for k in grid} == {k: table.at[0, k] for k in grid}
    assert best["window_days"] == TINY["window_days"] and steps[-1] == (4, 4)


def test_bad_history_is_refused_with_the_reason():
    hours = pd.date_range("2020-01-01", periods=24 * 40, freq="h")
    frame = pd.DataFrame({"price": np.arange(len(hours), dtype=float)}, index=hours)
    with pytest.raises(TrainingError, match="too little complete history"):
        TransformerModel(**TINY).fit(frame)
    with pytest.raises(TrainingError, match="hourly with no gaps"):
        TransformerModel(**TINY).fit(frame.drop(hours[100]))
    with pytest.raises(ValueError, match="unknown transformer settings: colour"):
        TransformerModel(colour="red")


@pytest.mark.realdata
@pytest.mark.slow
def test_the_worker_trains_in_a_spawned_process_as_in_process(np_frame, trained):
    seen_progress = []
    data, metrics = train_in_worker(np_frame.loc[np_frame.index < TRAIN_END], {"seed": 3, **TINY}, threads=1,
                                    progress=lambda done, total, message: seen_progress.append((done, total)))
    assert seen_progress and seen_progress[-1][0] == seen_progress[-1][1]
    assert metrics["val_mae"] == trained.metrics["val_mae"]
    start = TRAIN_END + pd.Timedelta(days=1)
    seen = visible(np_frame, start, 24)
    np.testing.assert_array_equal(TransformerModel.from_bytes(data).predict(seen, start, 24).samples,
                                  trained.predict(seen, start, 24).samples)


def test_a_failure_in_the_worker_is_raised_in_the_parent():
    hours = pd.date_range("2020-01-01", periods=24 * 10, freq="h")
    with pytest.raises(WorkerError, match="too little complete history"):
        train_in_worker(pd.DataFrame({"price": 1.0}, index=hours), TINY, threads=1)


@pytest.mark.realdata
def test_registry_records_the_latest_and_loads_it(store, tmp_path, np_frame, trained):
    assert latest_model(store, "NP", "system", "transformer") is None
    common = {"market": "NP", "location": "system", "kind": "transformer", "settings": trained.settings,
              "window_start": pd.Timestamp("2016-03-01", tz="UTC"), "window_end": pd.Timestamp("2016-09-30 23:00",
                                                                                               tz="UTC"),
              "metrics": trained.metrics, "seconds": 1.5}
    first = record_model(store, tmp_path, artefact=b"an older model", **common)
    second = record_model(store, tmp_path, artefact=trained.to_bytes(), **common)
    assert (first.version, second.version) == (1, 2)
    latest = latest_model(store, "NP", "system", "transformer")
    assert latest == second and latest.settings["width"] == TINY["width"]
    assert latest.metrics["val_mae"] == trained.metrics["val_mae"]
    start = TRAIN_END
    seen = visible(np_frame, start, 24)
    np.testing.assert_array_equal(load_model(latest).predict(seen, start, 24).samples,
                                  trained.predict(seen, start, 24).samples)
    assert store.scalar("SELECT count() FROM forecast_models") == 2  # the older version is kept
    first.artefact_path.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="checksum"):
        load_model(first)
    with pytest.raises(RegistryError, match="no time zone"):
        record_model(store, tmp_path, artefact=b"x", **{**common, "window_start": pd.Timestamp("2016-03-01")})


def test_the_training_process_ends_when_the_serving_process_is_killed():
    """A serving process killed mid-training (gunicorn kills a worker that outlives its graceful timeout, and
    that worker waits for its training thread) must not leave the training process running on, orphaned."""
    serving = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import numpy as np, pandas as pd
        from engine.forecast.worker import train_in_worker
        hours = pd.date_range("2020-01-01", periods=24 * 120, freq="h")
        rng = np.random.default_rng(0)
        prices = 50 + 10 * np.sin(np.arange(len(hours)) / 24 * 2 * np.pi) + rng.normal(0, 3, len(hours))
        settings = {"width": 16, "depth": 2, "heads": 8, "window_days": 8, "val_days": 14, "max_epochs": 100000,
                    "patience": 100000, "batch": 32, "samples": 10, "country": "NO"}
        train_in_worker(pd.DataFrame({"price": prices}, index=hours), settings, threads=1,
                        progress=lambda done, total, message: print("progress", flush=True))
    """)], cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert serving.stdout.readline().strip() == "progress"  # training is under way in the child
        training = children(serving.pid)  # the training process (and multiprocessing's resource tracker)
        assert training and all(running(pid) for pid in training)
    finally:
        serving.kill()
        serving.wait()
    assert all_ended(training)
