"""The command line of the signals engine: ``python -m engine.signals backtest`` prints the metrics as one JSON
object, equal to vectorbt's on real PJM prices, and refuses bad input with status 2 and a message."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.backtest import vectorbt
from engine.files import RawFile
from engine.signals.__main__ import main
from engine.signals.base import METRICS, Book

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.signals", "backtest", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A small hourly PRICES.csv (positive and negative prices) and a SIGNALS.csv at the same times."""
    times = pd.date_range("2026-03-01", periods=48, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    price = 30 + 25 * np.sin(np.arange(48) / 4)
    entry, exit_ = np.zeros(48, bool), np.zeros(48, bool)
    entry[[2, 20, 30]], exit_[[10, 25, 40]] = True, True
    prices = _write(tmp_path / "prices.csv", pd.DataFrame({"time": times, "price": price}))
    signals = _write(tmp_path / "signals.csv", pd.DataFrame({"time": times, "entry": entry, "exit": exit_}))
    return prices, signals


def _pjm(data_dir: Path, bars: int) -> pd.Series:
    from ingest.pjm import PjmConnector

    raw = RawFile.from_path(data_dir / "markets/pjm/da_hrl_lmps_PJM-RTO_2025.csv")
    lmp = PjmConnector().parse(raw).tables["nodal_lmp"].sort_values("interval_start").iloc[:bars]
    return pd.Series(lmp["lmp"].to_numpy(), index=pd.DatetimeIndex(lmp["interval_start"]))


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.xdist_group("vectorbt")  # with the other vectorbt comparisons: one import, one compilation
def test_the_command_line_prints_vectorbts_metrics_on_real_pjm_prices(data_dir, tmp_path):
    close = _pjm(data_dir, 2000)
    rng = np.random.default_rng(12)
    entries, exits = rng.random(len(close)) < 0.08, rng.random(len(close)) < 0.08
    times = close.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    prices = _write(tmp_path / "prices.csv", pd.DataFrame({"time": times, "price": close.to_numpy()}))
    signals = _write(tmp_path / "signals.csv", pd.DataFrame({"time": times, "entry": entries, "exit": exits}))
    done = _cli(prices, "--signals", signals, "--size", 50, "--init-cash", 1500, "--fees", 0.001,
                "--fixed-fees", 0.75, "--freq", "1h", "--trades-out", tmp_path / "trades.csv")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert list(printed) == list(METRICS)

    vbt = vectorbt()
    # the signals twice over (column 1 a copy of column 0) with float amounts, the argument types of the
    # comparisons in tests/test_signals_backtest.py: vectorbt's simulation is compiled by numba per argument
    # type and layout (a single column's arrays are laid out otherwise) and is not cached on disk, so any other
    # types compile it again (seconds)
    shifted = [pd.DataFrame(np.column_stack([s, s]), index=close.index).shift(1, fill_value=False)
               for s in (entries, exits)]
    pf = vbt.Portfolio.from_signals(close, *shifted, size=50.0, init_cash=1500.0, fees=0.001, fixed_fees=0.75,
                                    freq="1h")
    expected = {"pnl": pf.total_profit(), "total_return": pf.total_return(), "sharpe": pf.sharpe_ratio(),
                "sortino": pf.sortino_ratio(), "max_drawdown": pf.max_drawdown(),
                "win_rate": pf.trades.closed.win_rate(), "profit_factor": pf.trades.closed.profit_factor(),
                "trades": pf.trades.count()}
    for name, value in expected.items():
        assert printed[name] == pytest.approx(value[0], rel=1e-9), name
    assert 50 * close.max() * 1.001 > 1500  # the cash scales the buys down
    trades = pd.read_csv(tmp_path / "trades.csv")
    theirs = pf.trades.records_readable.query("Column == 0")
    assert len(trades) == len(theirs) == printed["trades"]
    np.testing.assert_allclose(trades["pnl"], theirs["PnL"], rtol=1e-9, atol=1e-9)
    assert trades["entry_time"].tolist() == theirs["Entry Timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def test_strategy_by_name_equals_the_engines_backtest(files, capsys):
    from engine.signals.evaluate import backtest
    from engine.signals.registry import strategy

    prices, _ = files
    assert main(["backtest", str(prices), "--strategy", "momentum", "--params", '{"fast": 3, "slow": [8]}',
                 "--size", "2", "--fees-per-mwh", "0.3", "--freq", "1h"]) == 0
    printed = json.loads(capsys.readouterr().out)
    frame = pd.read_csv(prices)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("time"), utc=True))
    expected = backtest(strategy("momentum"), frame, {"fast": 3, "slow": 8}, Book(size=2, fees_per_mwh=0.3),
                        pd.Timedelta(hours=1)).metrics.iloc[0]
    for name in METRICS:
        assert printed[name] == pytest.approx(float(expected[name]), rel=1e-12, nan_ok=True), name
    assert isinstance(printed["trades"], int)


def test_undefined_and_infinite_metrics_print_as_null(files, tmp_path, capsys):
    prices, _ = files
    times = pd.read_csv(prices)["time"]
    rising = _write(tmp_path / "rising.csv", pd.DataFrame({"time": times, "price": np.arange(48.0) + 1}))
    entry = np.zeros(48, bool)
    entry[0] = True  # one long held to the end: no closed trade
    signals = _write(tmp_path / "one.csv", pd.DataFrame({"time": times, "entry": entry, "exit": False}))
    assert main(["backtest", str(rising), "--signals", str(signals), "--freq", "1h"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["win_rate"] is None and printed["profit_factor"] is None
    assert printed["trades"] == 1 and printed["pnl"] == 46.0


def test_the_command_writes_the_trades(files, tmp_path):
    prices, signals = files
    done = _cli(prices, "--signals", signals, "--freq", "1h", "--trades-out", tmp_path / "t.csv")
    assert done.returncode == 0, done.stderr
    trades = pd.read_csv(tmp_path / "t.csv")
    assert list(trades.columns) == ["entry_time", "exit_time", "direction", "size_mw", "entry_price",
                                    "exit_price", "pnl", "fees", "return"]
    # decided at the closes of bars 2, 20 and 30, bought at the next bars; the last exit's sale at bar 41
    assert trades["entry_time"].tolist() == ["2026-03-01T03:00:00Z", "2026-03-01T21:00:00Z",
                                             "2026-03-02T07:00:00Z"]
    assert trades["exit_time"].tolist() == ["2026-03-01T11:00:00Z", "2026-03-02T02:00:00Z",
                                            "2026-03-02T17:00:00Z"]
    assert json.loads(done.stdout)["trades"] == 3


def _bad(tmp_path: Path, files: tuple[Path, Path], case: str) -> tuple[list[str], str]:
    prices, signals = files
    frame, marks = pd.read_csv(prices), pd.read_csv(signals)
    base = ["backtest", str(prices), "--freq", "1h"]
    if case == "missing column":
        path = _write(tmp_path / "p.csv", frame.rename(columns={"price": "lmp"}))
        return ["backtest", str(path), "--signals", str(signals), "--freq", "1h"], "missing column(s) price"
    if case == "unparseable time":
        frame.loc[5, "time"] = "yesterday"
        path = _write(tmp_path / "p.csv", frame)
        return ["backtest", str(path), "--signals", str(signals), "--freq", "1h"], "line 7: 'yesterday'"
    if case == "price not a number":
        frame["price"] = frame["price"].astype(object)
        frame.loc[3, "price"] = "n/a"
        path = _write(tmp_path / "p.csv", frame)
        return ["backtest", str(path), "--signals", str(signals), "--freq", "1h"], "line 5: price 'n/a'"
    if case == "unknown strategy":
        return [*base, "--strategy", "astrology"], "unknown strategy 'astrology'"
    if case == "bad JSON":
        return [*base, "--strategy", "momentum", "--params", "{fast: 3"], "--params is not valid JSON"
    if case == "unknown parameter":
        return [*base, "--strategy", "momentum", "--params", '{"speed": 3}'], "momentum has no parameter speed"
    if case == "non-boolean signals":
        marks["entry"] = marks["entry"].astype(object)
        marks.loc[4, "entry"] = "maybe"
        path = _write(tmp_path / "s.csv", marks)
        return [*base, "--signals", str(path)], "line 6: entry 'maybe' is not a boolean"
    if case == "times not matching":
        marks.loc[9, "time"] = "2026-03-01T09:30:00Z"
        path = _write(tmp_path / "s.csv", marks)
        return [*base, "--signals", str(path)], "line 11: time 2026-03-01 09:30:00+00:00"
    if case == "fewer signals":
        path = _write(tmp_path / "s.csv", marks.iloc[:-1])
        return [*base, "--signals", str(path)], "47 rows, the prices 48"
    if case == "wrong freq":
        return ["backtest", str(prices), "--signals", str(signals), "--freq", "30min"], "1 hour apart"
    if case == "missing file":
        return [*base, "--signals", str(tmp_path / "none.csv")], "no such file"
    if case == "params with signals":
        return [*base, "--signals", str(signals), "--params", '{"fast": 3}'], "--params goes with --strategy"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing column", "unparseable time", "price not a number", "unknown strategy",
                                  "bad JSON", "unknown parameter", "non-boolean signals", "times not matching",
                                  "fewer signals", "wrong freq", "missing file", "params with signals"])
def test_bad_input_exits_2_with_a_message(files, tmp_path, capsys, case):
    argv, message = _bad(tmp_path, files, case)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err


def test_bad_input_from_the_shell_shows_no_traceback(files, tmp_path):
    prices, signals = files
    done = _cli(prices, "--strategy", "momentum", "--params", "[1, 2]", "--freq", "1h")
    assert done.returncode == 2 and done.stdout == ""
    assert "--params must be a JSON object" in done.stderr and "Traceback" not in done.stderr
