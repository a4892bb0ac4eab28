"""Accuracy of the forecast models on the epftoolbox benchmark (Lago et al. 2021), walk-forward.

    python bench/forecast_accuracy.py [--datasets NP,PJM,FR,BE,DE] [--models naive,lear]
                                      [--recalibrate daily|weekly] [--days N] [--data-dir DIR] [--out DIR]

For each dataset and model it runs :func:`engine.forecast.backtest.backtest` (what ``python -m engine.forecast
backtest`` runs) over the paper's test period (``--days N``: its first N days only, for a quick look) and
prints MAE, rMAE, sMAPE, RMSE, average pinball loss, CRPS and the 90 % interval's coverage, beside the
published rMAE of the LEAR and DNN ensembles, with the time spent fitting. From the seconds per fit it also
projects what the whole period costs recalibrated daily (the benchmark's procedure) and weekly. Runs on one
core (BLAS threads limited to 1, torch to 1 thread).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.forecast.backtest import MODELS, RECALIBRATIONS, backtest
from engine.forecast.epftoolbox import read_epftoolbox

#: the paper's test periods (first and last day)
TEST_PERIODS = {
    "NP": ("2016-12-27", "2018-12-24"),
    "PJM": ("2016-12-27", "2018-12-24"),
    "FR": ("2015-01-04", "2016-12-31"),
    "BE": ("2015-01-04", "2016-12-31"),
    "DE": ("2016-01-04", "2017-12-31"),
}
#: the country whose public holidays the transformer sees (NP: Nord Pool's system price, Norway's calendar)
COUNTRIES = {"NP": "NO", "PJM": "US", "FR": "FR", "BE": "BE", "DE": "DE"}
#: rMAE of the published ensembles (Lago et al. 2021, table of the benchmark results)
PUBLISHED_RMAE = {
    "lear": {"NP": 0.420, "PJM": 0.476, "FR": 0.543, "BE": 0.604, "DE": 0.395},
    "dnn": {"NP": 0.403, "PJM": 0.439, "FR": 0.533, "BE": 0.573, "DE": 0.377},
}


def _data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    from bench.common import data_dir

    return data_dir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(TEST_PERIODS))
    parser.add_argument("--models", default="naive,lear")
    parser.add_argument("--recalibrate", choices=RECALIBRATIONS, default="daily",
                        help="daily as the benchmark (about 20 min a dataset and model on one core); weekly: "
                             "a quick look")
    parser.add_argument("--days", type=int, help="only the first N days of each test period")
    parser.add_argument("--warmup-days", type=int, default=28)
    parser.add_argument("--data-dir", help="the shared data folder (default: C254_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", help="a folder to write each run's hourly forecasts to (DATASET-MODEL.csv, with "
                                      "an ensemble's members' point forecasts)")
    args = parser.parse_args()
    datasets = [d.strip().upper() for d in args.datasets.split(",") if d.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [d for d in datasets if d not in TEST_PERIODS] + [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown dataset or model: {', '.join(unknown)}")
    folder = _data_dir(args.data_dir) / "markets" / "epftoolbox"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    print(f"recalibration {args.recalibrate}, warm-up {args.warmup_days} days; pinball/CRPS over the 99 "
          "percentiles; cov90 = share of hours inside q05..q95")
    header = (f"{'data':4} {'model':12} {'days':>4} {'MAE':>7} {'rMAE':>6} {'pub LEAR':>8} {'pub DNN':>7} "
              f"{'sMAPE':>6} {'RMSE':>7} {'pinball':>7} {'CRPS':>7} {'cov90':>6} {'fits':>4} {'s/fit':>6} "
              f"{'run s':>7} {'daily h':>7} {'weekly h':>8}")
    print(header, flush=True)
    for name in datasets:
        frame = read_epftoolbox(folder / f"{name}.csv").frame
        first, last = TEST_PERIODS[name]
        period_days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
        if args.days:
            last = str((pd.Timestamp(first) + pd.Timedelta(days=args.days - 1)).date())
        for model in models:
            started = time.perf_counter()
            def progress(day: pd.Timestamp, name=name, model=model) -> None:
                if day.dayofweek == 0 and day.isocalendar().week % 4 == 0:
                    print(f"  {name} {model}: at {day.date()}", file=sys.stderr, flush=True)

            with threadpool_limits(limits=1):
                result = backtest(frame, model, first, last, args.recalibrate, args.warmup_days, progress,
                                  country=COUNTRIES[name])
            elapsed = time.perf_counter() - started
            if args.out:
                written = result.frame if result.member_points is None else result.frame.join(
                    result.member_points.add_prefix("point_"))
                Path(args.out).mkdir(parents=True, exist_ok=True)
                written.to_csv(Path(args.out) / f"{name}-{model}.csv")
            s = result.scores
            per_fit = result.fit_seconds / result.fits
            predict_per_day = result.predict_seconds / (s.hours / 24 + args.warmup_days)
            daily_hours = period_days * (per_fit + predict_per_day) / 3600
            weekly_hours = (period_days / 7 * per_fit + period_days * predict_per_day) / 3600
            pub = PUBLISHED_RMAE["lear"][name], PUBLISHED_RMAE["dnn"][name]
            print(f"{name:4} {model:12} {s.hours // 24:>4} {s.mae:7.3f} {s.rmae:6.3f} {pub[0]:8.3f} {pub[1]:7.3f} "
                  f"{s.smape:6.4f} {s.rmse:7.3f} {s.pinball:7.3f} {s.crps:7.3f} {s.coverage90:6.3f} "
                  f"{result.fits:>4} {per_fit:6.2f} {elapsed:7.0f} {daily_hours:7.2f} {weekly_hours:8.2f}",
                  flush=True)
            for member, m in result.members.items():  # the ensemble's members, each calibrated on its own
                print(f"{name:4} {'.' + member:12} {m.hours // 24:>4} {m.mae:7.3f} {m.rmae:6.3f} {pub[0]:8.3f} "
                      f"{pub[1]:7.3f} {m.smape:6.4f} {m.rmse:7.3f} {m.pinball:7.3f} {m.crps:7.3f} "
                      f"{m.coverage90:6.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
