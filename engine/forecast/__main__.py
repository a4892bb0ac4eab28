"""Command line of the forecast engine.

    python -m engine.forecast backtest DATA.csv --model naive|lear|transformer|ensemble \\
        --test-start YYYY-MM-DD --test-end YYYY-MM-DD [--recalibrate daily|weekly] [--country CC] \\
        --out FORECASTS.csv

DATA.csv is in epftoolbox's layout (time, price, exogenous columns). FORECASTS.csv has one row per test hour:
``time`` as written in DATA.csv, ``actual``, ``forecast``, ``naive`` and the quantiles ``q01``…``q99``. The
metrics are printed when done. Bad input exits with status 2 and a message, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.forecast.backtest import MODELS, QUANTILE_COLUMNS, RECALIBRATIONS, backtest
from engine.forecast.epftoolbox import read_epftoolbox

#: the benchmark recalibrates daily; the transformer trains for minutes, so it (and the ensemble holding it)
#: is retrained weekly unless told otherwise
DEFAULT_RECALIBRATION = {"naive": "daily", "lear": "daily", "transformer": "weekly", "ensemble": "weekly"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.forecast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("backtest", help="walk-forward backtest of a model on an epftoolbox DATA.csv")
    run.add_argument("data", type=Path, help="DATA.csv: time, price, exogenous columns (epftoolbox layout)")
    run.add_argument("--model", required=True, choices=list(MODELS))
    run.add_argument("--test-start", required=True, help="first test day, YYYY-MM-DD")
    run.add_argument("--test-end", required=True, help="last test day (inclusive), YYYY-MM-DD")
    run.add_argument("--recalibrate", choices=RECALIBRATIONS,
                     help="refit every day or every week (default: daily; weekly for transformer, ensemble)")
    run.add_argument("--warmup-days", type=int, default=28,
                     help="days forecast before the test period to calibrate the quantiles (default 28)")
    run.add_argument("--country", help="ISO code of the market's country (e.g. NO, US, FR, BE, DE): its public "
                     "holidays are the transformer's inputs (default: none)")
    run.add_argument("--out", type=Path, required=True, help="FORECASTS.csv to write")
    return parser


def _check_country(code: str) -> None:
    import holidays

    if code not in holidays.list_supported_countries():
        raise ValueError(f"--country {code!r} is not a country whose holidays are known (ISO 3166 alpha-2, "
                         "e.g. NO, US, FR, BE, DE)")


def _backtest(args: argparse.Namespace) -> int:
    data = read_epftoolbox(args.data)
    if args.warmup_days < 0:
        raise ValueError("--warmup-days must be 0 or more")
    if not args.out.parent.is_dir():
        raise ValueError(f"{args.out.parent}: no such folder for --out")
    recalibrate = args.recalibrate or DEFAULT_RECALIBRATION[args.model]
    if args.country:
        _check_country(args.country)
    result = backtest(data.frame, args.model, args.test_start, args.test_end, recalibrate, args.warmup_days,
                      country=args.country)
    out = result.frame[["actual", "forecast", "naive", *QUANTILE_COLUMNS]].copy()
    out.insert(0, "time", data.written.reindex(out.index).to_numpy())
    # Written whole to a sibling file, then renamed: an interrupted run leaves no half-written CSV.
    partial = args.out.with_name(args.out.name + ".partial")
    out.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(args.out)
    s = result.scores
    print(f"{args.model} on {args.data.name}, {args.test_start}..{args.test_end}, recalibrated {recalibrate}: "
          f"{s.hours} hours, {result.fits} fits")
    for name, value in s.as_dict().items():
        if name != "hours":
            print(f"{name:>10} {value:.4f}")
    for member, scores in result.members.items():
        print(f"{member} alone (own calibration): " + ", ".join(
            f"{name} {value:.4f}" for name, value in scores.as_dict().items() if name != "hours"))
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _backtest(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: model {args.model!r} is not available: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
