"""The transformer's costs and a quick look at its accuracy, on epftoolbox's Nord Pool file (NP):

- training on two years of hourly data (2015-01-01 .. 2016-12-26) with the default settings, in the spawned
  training worker limited to 2 and to 1 torch threads (as the app trains);
- a 168-hour fan of 200 Monte Carlo dropout samples (one batched forward pass; a week-ahead model trained for
  two epochs, as the time of a pass does not depend on the weights), median of 20;
- MAE and rMAE of the 24-hour model on the four weeks that follow (no refit), against the weekly naive.

    python bench/forecast_transformer.py [DATASET]    (NP by default; PJM, FR, BE, DE: their own two years)
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import data_dir
from engine.forecast.base import visible
from engine.forecast.epftoolbox import read_epftoolbox
from engine.forecast.transformer import DEFAULTS, TransformerModel
from engine.forecast.worker import train_in_worker

#: The day after two years of training, and the public holidays of each dataset's market.
TEST_START = {"NP": "2016-12-27", "PJM": "2016-12-27", "FR": "2015-01-04", "BE": "2015-01-04", "DE": "2016-01-04"}
COUNTRY = {"NP": "NO", "PJM": "US", "FR": "FR", "BE": "BE", "DE": "DE"}


def main(dataset: str = "NP") -> None:
    import torch

    frame = read_epftoolbox(data_dir() / "markets" / "epftoolbox" / f"{dataset}.csv").frame
    start = pd.Timestamp(TEST_START[dataset])
    history = frame.loc[(frame.index >= start - pd.Timedelta(days=730)) & (frame.index < start)]
    settings = {"seed": 0, "country": COUNTRY[dataset]}
    shown = {k: DEFAULTS[k] for k in ("width", "depth", "heads", "dropout", "lr", "window_days", "batch")}
    print(f"{dataset}: training on {history.index[0]} .. {history.index[-1]} ({len(history):,} hours), {shown}")
    data = b""
    for threads in (2, 1):
        began = time.perf_counter()
        data, metrics = train_in_worker(history, settings, threads=threads)
        print(f"  train, {threads} thread(s): {time.perf_counter() - began:6.1f} s (in the worker: "
              f"{metrics['seconds']} s; best epoch {metrics['best_epoch']} of {metrics['epochs']}, "
              f"validation rMAE {metrics['val_rmae']})")

    torch.set_num_threads(1)
    week = TransformerModel(horizon=168, **{**settings, "max_epochs": 2})
    week.fit(history)
    seen = visible(frame, start, 168)
    times = []
    for _ in range(21):
        began = time.perf_counter()
        fan = week.predict(seen, start, 168, samples=200)
        times.append(time.perf_counter() - began)
    print(f"  168-h fan, {fan.samples.shape[0]} samples, 1 thread: median "
          f"{statistics.median(times[1:]) * 1000:.0f} ms, max {max(times[1:]) * 1000:.0f} ms")

    model = TransformerModel.from_bytes(data)
    errors, naive = [], []
    for day in range(28):
        at = start + pd.Timedelta(days=day)
        hours = pd.date_range(at, periods=24, freq="h")
        actual = frame.loc[hours, "price"].to_numpy()
        errors.append(np.abs(model.predict(visible(frame, at, 24), at, 24).point - actual))
        naive.append(np.abs(frame.loc[hours - pd.Timedelta(days=7), "price"].to_numpy() - actual))
    mae, naive_mae = float(np.mean(errors)), float(np.mean(naive))
    print(f"  next 4 weeks ({start.date()} ..): MAE {mae:.3f}, weekly naive MAE {naive_mae:.3f}, "
          f"rMAE {mae / naive_mae:.3f} (no refit)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
