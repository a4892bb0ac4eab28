"""Command line of the signals engine.

    python -m engine.signals backtest PRICES.csv (--strategy NAME --params JSON | --signals SIGNALS.csv) \\
        [--size UNITS] [--init-cash C] [--fees F] [--fees-per-mwh F] [--fixed-fees F] --freq 5min|30min|1h \\
        [--trades-out T.csv]

PRICES.csv has columns ``time,price`` (a two-leg strategy also reads ``other``, the ML ensemble
``forecast``); SIGNALS.csv has ``time,entry,exit``, booleans decided at that bar's close, at the same times as
PRICES.csv. Times are ISO 8601, UTC unless they carry an offset. Prints one JSON object of the metrics (null
where a metric is undefined or infinite, e.g. the profit factor without a losing trade). Bad input exits with
status 2 and a message, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from engine.signals.backtest import BacktestResult, positions_from_entries_exits, run, signal_bars
from engine.signals.base import METRICS, Book, Signals

FREQS = {"5min": pd.Timedelta(minutes=5), "30min": pd.Timedelta(minutes=30), "1h": pd.Timedelta(hours=1)}
_TRUE, _FALSE = {"true", "1", "1.0", "yes"}, {"false", "0", "0.0", "no"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.signals", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_ = commands.add_parser("backtest", help="backtest a strategy, or entry/exit signals, on a price series")
    run_.add_argument("prices", type=Path, help="PRICES.csv: time, price")
    source = run_.add_mutually_exclusive_group(required=True)
    source.add_argument("--strategy", help="a strategy by name (mean_reversion, momentum, spread, volatility, "
                        "ml_ensemble)")
    source.add_argument("--signals", type=Path, help="SIGNALS.csv: time, entry, exit (long only)")
    run_.add_argument("--params", default="{}", help='the strategy\'s parameters as a JSON object, e.g. '
                      '\'{"lookback": 48}\' (default: its defaults)')
    run_.add_argument("--size", type=float, default=1.0, help="MW per unit of position (default 1)")
    run_.add_argument("--init-cash", type=float, default=Book.init_cash,
                      help=f"initial cash in the market's currency (default {Book.init_cash:g})")
    run_.add_argument("--fees", type=float, default=0.0, help="fee as a fraction of each order's value")
    run_.add_argument("--fees-per-mwh", type=float, default=0.0, help="fee per MWh traded")
    run_.add_argument("--fixed-fees", type=float, default=0.0, help="fee per order")
    run_.add_argument("--freq", required=True, choices=list(FREQS), help="bar length")
    run_.add_argument("--trades-out", type=Path, help="write the trades to this CSV")
    return parser


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a CSV file ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (it has {', '.join(raw.columns)})")
    if raw.empty:
        raise ValueError(f"{path}: no rows")
    written = raw["time"].str.strip()
    times = pd.to_datetime(written, utc=True, format="ISO8601", errors="coerce")
    if times.isna().any():
        row = int(times.isna().to_numpy().argmax())
        raise ValueError(f"{path}, line {row + 2}: {written.iloc[row]!r} is not an ISO 8601 time")
    raw.index = pd.DatetimeIndex(times, name="time")
    return raw


def _numbers(raw: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(bad.argmax())
        raise ValueError(f"{path}, line {row + 2}: {column} {raw[column].iloc[row]!r} is not a number")
    return values


def _read_prices(path: Path, freq: pd.Timedelta) -> pd.DataFrame:
    raw = _read_csv(path, ("time", "price"))
    index = raw.index
    if len(index) < 2:
        raise ValueError(f"{path}: a backtest needs at least two rows")
    steps = index[1:] - index[:-1]
    if (steps <= pd.Timedelta(0)).any():
        row = int(np.argmax(steps <= pd.Timedelta(0))) + 1
        raise ValueError(f"{path}, line {row + 2}: times must increase ({index[row]} follows {index[row - 1]})")
    typical = pd.Timedelta(np.median(steps.asi8), unit="ns")
    if typical != freq:
        raise ValueError(f"{path}: the rows are typically {_duration(typical)} apart, not --freq "
                         f"{_duration(freq)}")
    optional = [c for c in ("other", "forecast") if c in raw.columns]
    return pd.DataFrame({c: _numbers(raw, c, path) for c in ("price", *optional)}, index=index)


def _duration(span: pd.Timedelta) -> str:
    minutes = span / pd.Timedelta(minutes=1)
    count, unit = (minutes, "minute") if minutes < 60 else (minutes / 60, "hour")
    return f"{count:g} {unit}{'' if count == 1 else 's'}"


def _boolean(raw: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    text = raw[column].str.strip().str.lower()
    ok = text.isin(_TRUE | _FALSE)
    if not ok.all():
        row = int((~ok).to_numpy().argmax())
        raise ValueError(f"{path}, line {row + 2}: {column} {raw[column].iloc[row]!r} is not a boolean "
                         "(true/false, 1/0)")
    return text.isin(_TRUE).to_numpy()


def _signals_from_file(path: Path, prices: pd.DataFrame) -> tuple[Signals, np.ndarray]:
    """Long-only target positions from the file's entries and exits, and the bars with a signal (where
    vectorbt tries a refused order again)."""
    raw = _read_csv(path, ("time", "entry", "exit"))
    if len(raw) != len(prices) or not (raw.index == prices.index).all():
        if len(raw) != len(prices):
            raise ValueError(f"{path} has {len(raw)} rows, the prices {len(prices)}: the times must match")
        row = int(np.argmax(raw.index != prices.index))
        raise ValueError(f"{path}, line {row + 2}: time {raw.index[row]} where the prices have "
                         f"{prices.index[row]}")
    entries, exits = _boolean(raw, "entry", path)[:, None], _boolean(raw, "exit", path)[:, None]
    position = positions_from_entries_exits(entries, exits)
    signals = Signals(strategy="signals", index=prices.index, position=position, confidence=np.ones_like(position),
                      params=pd.DataFrame(index=pd.RangeIndex(1)), traded=prices["price"].to_numpy())
    return signals, signal_bars(entries, exits)


def _params(text: str) -> dict[str, float]:
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ValueError('--params must be a JSON object, e.g. {"lookback": 48}')
    for name, value in params.items():
        if isinstance(value, list) and len(value) == 1:
            value = params[name] = value[0]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"--params: {name} must be one number, not {value!r}")
    return params


def _strategy_result(args: argparse.Namespace, prices: pd.DataFrame, book: Book) -> BacktestResult:
    params = _params(args.params)
    try:
        from engine.signals.registry import strategy
    except ImportError as exc:
        raise ValueError(f"the strategies are not available: {exc}") from exc
    from engine.signals.evaluate import backtest

    return backtest(strategy(args.strategy), prices, params, book, FREQS[args.freq])


def _json_value(value: object) -> object:
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if isinstance(value, int | np.integer) else number


def _backtest(args: argparse.Namespace) -> int:
    if args.trades_out is not None and not args.trades_out.parent.is_dir():
        raise ValueError(f"{args.trades_out.parent}: no such folder for --trades-out")
    if args.signals is not None and args.params != "{}":
        raise ValueError("--params goes with --strategy, not --signals")
    book = Book(size=args.size, init_cash=args.init_cash, fees=args.fees, fees_per_mwh=args.fees_per_mwh,
                fixed_fees=args.fixed_fees)
    freq = FREQS[args.freq]
    prices = _read_prices(args.prices, freq)
    if args.signals is not None:
        signals, asked = _signals_from_file(args.signals, prices)
        result = run(signals, book, freq, asked=asked)
    else:
        result = _strategy_result(args, prices, book)
    if args.trades_out is not None:
        # Written whole to a sibling file, then renamed: an interrupted run leaves no half-written CSV.
        partial = args.trades_out.with_name(args.trades_out.name + ".partial")
        result.trades(0).to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        partial.replace(args.trades_out)
    print(json.dumps({name: _json_value(result.metrics[name].iat[0]) for name in METRICS}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _backtest(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
