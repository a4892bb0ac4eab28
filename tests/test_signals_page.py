"""The signals page through the Flask test client, on demo prices of two NEM regions: the backtest's metrics are
the engine's for the values shown and change with a parameter; trades, equity and drawdown are drawn; a bad
parameter or account value is marked beside its input; spread trading needs a second location; the CSVs hold
the trades and the bars in the zone shown; the strategies side by side, the heatmap and the walk-forward answer;
the live record and the orders panel (refused while routing is off, and for a role that may not send); hostile
values get the page's own message and change nothing."""
from __future__ import annotations

import base64
import io
import json
import os

import dash
import numpy as np
import pandas as pd
import pytest
from plotly.utils import PlotlyJSONEncoder

from app.factory import create_app
from app.routing import Sender
from app.services import services
from app.settings import Settings
from components import signal_figures as sf
from components.price_axis import PriceAxis
from engine import queries
from engine.demo import nem_demo_frames
from engine.signals import backtest, evaluate, record, registry, series, views
from engine.signals.base import METRIC_KINDS, METRICS, Book, Signals
from engine.store import write_tables
from tests.support.fix_acceptor import Acceptor, wait_for
from tests.test_hardening import HOSTILE, assert_answered, callback_key, row_counts
from tests.support.schema_template import migrated_url

NEM = "Etc/GMT-10"
#: The demo's last DAYS days of SA1 and VIC1 5-minute prices (the walk-forward's shortest windows need 37).
DAYS = 40
LAST_DAY = pd.Timestamp("2026-10-31", tz=NEM)
START, END = "2026-09-22", "2026-10-31"
BOOK_IDS = {name: f"sg-book-{name.replace('_', '-')}" for name in views.BOOK_FIELDS}


def save_demo_prices(store, locations=("SA1", "VIC1"), days: int = DAYS) -> None:
    frames = nem_demo_frames(days=days, end=LAST_DAY + pd.Timedelta(days=1))
    write_tables(store, {"prices": frames["prices"].loc[frames["prices"]["location"].isin(locations)]
                         .reset_index(drop=True)})


@pytest.fixture(scope="module")
def site(store_dir):
    """One app (sign-in off: local mode, where the user is an admin) over a store with demo prices."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"sgpage_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=False, secret_key="test-secret"))
    store = services(dash_app.server).ready_store()
    save_demo_prices(store)
    yield dash_app, store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _good(**changes) -> dict:
    values = {"sg-market.value": "NEM", "sg-location.value": "SA1", "sg-other.value": None,
              "sg-dates.start_date": START, "sg-dates.end_date": END, "sg-strategy.value": "mean_reversion",
              "sg-tz.value": "market", "sg-scale.value": "linear", "sg-heatmap-metric.value": "sharpe",
              "sg-wf-window.value": "30/7",
              "sg-wf-metric.value": "sharpe", "sg-download-trades-btn.n_clicks": 1,
              "sg-download-equity-btn.n_clicks": 1, "sg-download-compare-btn.n_clicks": 1,
              "sg-download-folds-btn.n_clicks": 1, "sg-download-live-btn.n_clicks": 1,
              "sg-download-heatmap-btn.n_clicks": 1, "sg-download-wf-equity-btn.n_clicks": 1,
              "sg-download-orders-btn.n_clicks": 1, "sg-send-order.n_clicks": 1, "sg-order-sent.data": 0,
              "sg-orders-tick.n_intervals": 0, "params": dict(registry.STRATEGIES["mean_reversion"].defaults)}
    values.update({f"{ident}.value": views.BOOK_FIELDS[name][3] for name, ident in BOOK_IDS.items()})
    values.update(changes)
    return values


def _pattern(ident: str) -> dict | None:
    return json.loads(ident) if ident.startswith("{") else None


def post(client, dash_app, key: str, values: dict):
    """One callback request as Dash's renderer sends it, the parameter inputs (pattern ids) as lists of every
    input the page holds (``values["params"]``: name → value)."""
    spec, params = dash_app.callback_map[key], values.get("params") or {}

    def dep(item: dict):
        pattern = _pattern(item["id"])
        if pattern is None:
            return {"id": item["id"], "property": item["property"],
                    "value": values.get(f"{item['id']}.{item['property']}")}
        # the parameter inputs, by name; no other pattern's components (orders' cancel buttons) are on the page
        ids = [{"name": name, "type": pattern["type"]} for name in params] if "name" in pattern else []
        return [{"id": i, "property": item["property"],
                 "value": i if item["property"] == "id" else params[i["name"]]} for i in ids]

    outputs = []
    for part in key[2:-2].split("...") if key.startswith("..") else [key]:
        ident, prop = part.rsplit(".", 1)
        pattern = _pattern(ident)
        outputs.append({"id": ident, "property": prop} if pattern is None else
                       [{"id": {"name": name, "type": pattern["type"]}, "property": prop} for name in params])
    inputs = [dep(i) for i in spec["inputs"]]
    # the first input fired; a pattern's first component, as Dash names it (its id's keys sorted, no spaces)
    fired = inputs[0][:1] if isinstance(inputs[0], list) else [inputs[0]]
    changed = [f"{json.dumps(i['id'], sort_keys=True, separators=(',', ':')) if isinstance(i['id'], dict) else i['id']}"
               f".{i['property']}" for i in fired]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": [dep(s) for s in spec["state"]], "changedPropIds": changed}
    return client.post("/_dash-update-component", data=json.dumps(body, cls=PlotlyJSONEncoder),
                       content_type="application/json", headers={"Origin": "http://localhost"})


def _ask(site, output: str, **changes) -> dict:
    dash_app, _ = site
    answer = assert_answered(post(dash_app.server.test_client(), dash_app, callback_key(dash_app, output),
                                  _good(**changes)), output)
    return answer["response"] if answer else {}


def _render(site, **changes) -> dict:
    return _ask(site, "sg-price.figure", **changes)


def _values(trace: dict, key: str = "y") -> np.ndarray:
    """A trace's values as plotly's JSON encoder sends them (a list, or a typed array in base64)."""
    value = trace[key]
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _traces(figure: dict) -> dict[str, dict]:
    return {t["name"]: t for t in figure["data"] if t.get("name")}


def _table_rows(table: dict) -> list[list[str]]:
    """The body rows of a data_table as Dash sends it: each row's cells as text."""
    body = table["props"]["children"][-1]["props"]["children"]
    return [[str(cell["props"]["children"]) for cell in row["props"]["children"]] for row in body]


def _prices(store, other: str | None = None) -> series.PriceSeries:
    """SA1's prices of the days shown (market time), straight from the loader."""
    return series.load_prices(store, "NEM", "SA1", pd.Timestamp(START), pd.Timestamp(END) + pd.Timedelta(days=1),
                              other=other)


def _engine_backtest(store, strategy: str, params: dict, book: Book | None = None, other: str | None = None):
    """The same backtest straight from the engine: the prices of the days shown, the strategy, the backtester."""
    prices = _prices(store, other)
    book = book or Book()
    made = registry.STRATEGIES[strategy].signals(prices.frame, {k: [v] for k, v in params.items()})
    return backtest.run(made, book, prices.freq), made


def _metrics_shown(answer: dict) -> dict[str, str]:
    return dict(_table_rows(answer["sg-metrics"]["children"]))


def test_the_backtest_draws_its_trades_equity_drawdown_and_metrics(site):
    _, store = site
    answer = _render(site)
    assert answer["sg-error"]["is_open"] is False
    assert (answer["sg-download-trades-btn"]["disabled"], answer["sg-download-equity-btn"]["disabled"]) == \
        (False, False)
    result, made = _engine_backtest(store, "mean_reversion", dict(registry.STRATEGIES["mean_reversion"].defaults))
    expected = result.metrics.iloc[0]
    assert _metrics_shown(answer) == {sf.METRIC_LABELS[m]: sf.metric_text(METRIC_KINDS[m], expected[m], "AUD")
                                      for m in METRICS}
    price = _traces(answer["sg-price"]["figure"])
    trades = result.trades(0)
    assert expected["trades"] > 3
    entries = sum(len(_values(price[f"{d} entry"], "x")) for d in ("Long", "Short") if f"{d} entry" in price)
    assert entries == len(trades)
    # entries at their execution price, at the bar's start in market time (UTC+10) on the date axis
    first = trades.iloc[0]
    side = "Long" if first["direction"] == "long" else "Short"
    assert _values(price[f"{side} entry"])[0] == pytest.approx(first["entry_price"])
    wall = first["entry_time"].tz_convert(NEM).tz_localize(None)
    assert _values(price[f"{side} entry"], "x")[0] == wall.value / 1e6
    # a month of 5-minute bars is drawn through each bucket's extremes: every spike and trough is kept
    line = _values(price["SA1 price"])
    assert len(line) <= sf.MAX_LINE_POINTS < len(made.index)
    assert (line.max(), line.min()) == (made.traded.max(), made.traded.min())
    equity = answer["sg-equity"]["figure"]
    curves = _traces(equity)
    assert _values(curves["Equity"]).min() == pytest.approx(result.equity[:, 0].min())
    assert _values(curves["Drawdown"]).min() == pytest.approx(result.drawdown(0).min() * 100)
    assert curves["Drawdown"]["yaxis"] == "y2" and equity["layout"]["xaxis"]["matches"] == "x2"
    assert answer["sg-price"]["config"]["toImageButtonOptions"]["format"] == "png"
    assert "NEM time (UTC+10)" in answer["sg-zone"]["children"]
    assert "Demo data" in json.dumps(answer["sg-demo-badge"]["children"])


def test_the_compressed_price_axis_draws_the_trades_at_their_prices_heights(site):
    """On the compressed axis the line and the markers are drawn at their prices' heights on one PriceAxis, and
    hover gives the prices themselves: a marker stays on the line it traded at."""
    linear, compressed = (_traces(_render(site, **{"sg-scale.value": scale})["sg-price"]["figure"])
                          for scale in ("linear", "compressed"))
    prices = _values(linear["SA1 price"])
    axis = PriceAxis.for_prices(prices)
    assert axis is not None, "the test month has no spike to compress"
    np.testing.assert_allclose(_values(compressed["SA1 price"]), axis(prices))
    np.testing.assert_array_equal(_values(compressed["SA1 price"], "customdata"), prices)
    for name in (n for n in linear if n.endswith(("entry", "exit"))):
        at = _values(linear[name])
        np.testing.assert_allclose(_values(compressed[name]), axis(at))
        shown = np.asarray(compressed[name]["customdata"], dtype=float)
        np.testing.assert_allclose(shown[:, 0], at)  # hover: the trade's own price
        assert compressed[name]["hovertemplate"].startswith(name.split()[0].lower() + " ")
    refused = _render(site, **{"sg-scale.value": "symlog"})
    assert refused["sg-error"]["children"] == "Price axis must be one of linear, compressed."


def test_a_new_parameter_gives_the_engines_new_metrics(site):
    _, store = site
    params = {"lookback": 96.0, "entry": 1.4, "exit": 0.2}
    answer = _render(site, params=params, **{"sg-book-size-mw.value": 5.0, "sg-book-fee-per-mwh.value": 0.5})
    result, _ = _engine_backtest(store, "mean_reversion", params, Book(size=5.0, fees_per_mwh=0.5))
    shown = _metrics_shown(answer)
    assert shown == {sf.METRIC_LABELS[m]: sf.metric_text(METRIC_KINDS[m], result.metrics.iloc[0][m], "AUD")
                     for m in METRICS}
    assert shown != _metrics_shown(_render(site))
    assert "lookback 96, entry 1.4, exit 0.2" in answer["sg-price"]["figure"]["layout"]["title"]["text"]


def test_bad_parameters_and_account_values_are_marked_beside_their_inputs(site):
    params = {"lookback": None, "entry": 2.0, "exit": 0.5}
    answer = _render(site, params=params)
    assert answer["sg-error"]["is_open"] is True
    assert answer["sg-error"]["children"] == "lookback: enter a number"
    # the browser marks the inputs named (assets/signals.js), each with its message
    assert answer["sg-param-problems"]["data"] == {"lookback": "enter a number"}
    # the strategy's own refusal (a lookback of 1.5 bars) is shown beside the parameter it names
    answer = _render(site, params={"lookback": 1.5, "entry": 2.0, "exit": 0.5})
    assert "lookback must be a whole number of bars" in answer["sg-error"]["children"]
    assert list(answer["sg-param-problems"]["data"]) == ["lookback"]
    answer = _render(site, **{"sg-book-size-mw.value": 0, "sg-book-init-cash.value": "lots"})
    assert answer["sg-book-size-mw"]["invalid"] is True
    assert answer["sg-book-size-mw-msg"]["children"] == "Size (MW) must be between 0.001 and 10000"
    assert answer["sg-book-init-cash-msg"]["children"] == "Initial capital: enter a number"
    assert answer["sg-book-fee-pct"]["invalid"] is False
    answer = _render(site, **{"sg-dates.start_date": "2020-01-01"})
    assert answer["sg-error"]["children"] == "a backtest may span at most 731 days (asked 2496)"


def test_spread_trading_needs_a_second_location_and_trades_the_hedged_spread(site):
    _, store = site
    params = dict(registry.STRATEGIES["spread"].defaults)
    answer = _render(site, params=params, **{"sg-strategy.value": "spread"})
    assert "trades two series: choose a second location" in answer["sg-error"]["children"]
    answer = _render(site, params=params, **{"sg-strategy.value": "spread", "sg-other.value": "VIC1"})
    assert answer["sg-error"]["is_open"] is False
    _, made = _engine_backtest(store, "spread", params, other="VIC1")
    line = _values(_traces(answer["sg-price"]["figure"])["Spread SA1 − hedge × VIC1"])
    assert (line.max(), line.min()) == (made.traded.max(), made.traded.min())


def test_the_csvs_hold_the_trades_and_the_bars_in_the_zone_shown(site):
    _, store = site
    result, made = _engine_backtest(store, "mean_reversion", dict(registry.STRATEGIES["mean_reversion"].defaults))
    for tz, header, offset in (("market", "entry_time (NEM time (UTC+10))", "+10:00"),
                               ("utc", "entry_time (UTC)", "+00:00")):
        data = _ask(site, "sg-download-trades.data", **{"sg-tz.value": tz})["sg-download-trades"]["data"]
        assert data["filename"] == f"NEM_SA1_mean_reversion_{START}_{END}_trades_" + \
            ("UTC" if tz == "utc" else "market-time") + ".csv"
        frame = pd.read_csv(io.StringIO(data["content"]))
        trades = result.trades(0)
        # each header names its unit: prices in AUD/MWh, money in AUD, the return a fraction
        assert list(frame.columns) == [header, header.replace("entry", "exit"), "status", "direction", "size_mw",
                                       "entry_price (AUD/MWh)", "exit_price (AUD/MWh)", "pnl (AUD)", "fees (AUD)",
                                       "return (fraction)"]
        assert len(frame) == len(trades)
        assert frame[header].str.endswith(offset).all()
        assert pd.to_datetime(frame[header], utc=True).equals(pd.DatetimeIndex(trades["entry_time"]).to_series(
            index=frame.index, name=header))
        np.testing.assert_allclose(frame["pnl (AUD)"], trades["pnl"], rtol=1e-12)
        np.testing.assert_allclose(frame["entry_price (AUD/MWh)"], trades["entry_price"], rtol=1e-12)
        np.testing.assert_allclose(frame["return (fraction)"], trades["return"], rtol=1e-12)
        # an open trade says so: no exit time, its exit price the last bar's it is marked to
        exit_header = header.replace("entry", "exit")
        assert frame["status"].tolist() == ["open" if pd.isna(t) else "closed" for t in trades["exit_time"]]
        assert frame.loc[frame["status"] == "open", exit_header].isna().all()
        assert frame.loc[frame["status"] == "closed", exit_header].notna().all()
    data = _ask(site, "sg-download-equity.data")["sg-download-equity"]["data"]
    frame = pd.read_csv(io.StringIO(data["content"]))
    assert list(frame.columns) == ["bar_start (NEM time (UTC+10))", "traded_price (AUD/MWh)", "position_mw",
                                   "equity (AUD)", "drawdown (fraction)"]
    assert len(frame) == len(made.index)
    np.testing.assert_allclose(frame["equity (AUD)"], result.equity[:, 0], rtol=1e-12)
    np.testing.assert_allclose(frame["drawdown (fraction)"], result.drawdown(0), rtol=1e-12)
    np.testing.assert_allclose(frame["traded_price (AUD/MWh)"], made.traded, rtol=1e-12)
    assert frame["bar_start (NEM time (UTC+10))"].iloc[0] == f"{START}T00:00:00+10:00"


def test_an_open_trade_is_marked_open_in_the_trades_csv():
    """A backtest ending in a position: its last trade has no exit, is written ``open`` with the last bar's price
    it is marked to as its exit price; the closed ones before it ``closed``."""
    index = pd.date_range("2026-01-01", periods=8, freq="h", tz="UTC")
    traded = np.array([10.0, 12.0, 11.0, 15.0, 14.0, 13.0, 18.0, 20.0])
    position = np.array([[1.0], [0.0], [0.0], [-1.0], [-1.0], [1.0], [1.0], [1.0]])
    made = Signals("test", index, position, np.ones_like(position), pd.DataFrame(index=pd.RangeIndex(1)), traded)
    result = backtest.run(made, Book(), pd.Timedelta(hours=1))
    trades = result.trades(0)
    assert trades["exit_time"].isna().iloc[-1] and trades["exit_time"].notna().iloc[0]
    view = views.BacktestView("NEM", "SA1", None, "mean_reversion", "Mean reversion", {}, Book(), "AUD", "UTC", "UTC",
                              pd.Timedelta(hours=1), "SA1", index, traded, result.equity[:, 0],
                              result.drawdown(0), result.position[:, 0], trades, result.metrics.iloc[0])
    frame = views.trades_export(view)
    assert frame["status"].tolist() == ["closed"] * (len(trades) - 1) + ["open"]
    assert frame["exit_time (UTC)"].iloc[-1] == ""
    assert frame["exit_price (AUD/MWh)"].iloc[-1] == traded[-1]


def test_the_strategies_side_by_side(site):
    answer = _ask(site, "sg-compare.figure", **{"sg-other.value": "VIC1"})
    shown = answer["sg-compare-table"]["children"]["props"]["children"]
    rows = _table_rows(shown[0])
    # no forecast run is stored here, and the page says so beside the ML ensemble
    assert "Day-ahead forecast as issued: none stored for these days" in json.dumps(shown[1:])
    assert answer["sg-compare"]["config"]["toImageButtonOptions"]["format"] == "png"
    assert [r[0] for r in rows] == [s.label for s in registry.STRATEGIES.values()]
    bars = answer["sg-compare"]["figure"]["data"]
    assert list(bars[0]["x"]) == [s.label for s in registry.STRATEGIES.values()]
    axis = answer["sg-compare"]["figure"]["layout"]["xaxis"]
    assert axis["tickangle"] == 0 and axis["tickvals"] == bars[0]["x"]  # level names, broken into short lines
    assert all(len(line) <= 16 for text in axis["ticktext"] for line in text.split("<br>"))
    assert answer["sg-download-compare-btn"]["disabled"] is False
    # a range with no prices: nothing to download, and the button says so
    empty = _ask(site, "sg-compare.figure", **{"sg-dates.start_date": "2025-01-01", "sg-dates.end_date": "2025-01-31"})
    assert empty["sg-download-compare-btn"]["disabled"] is True
    # without a second location spread trading is left out, and says why
    rows = _table_rows(_ask(site, "sg-compare.figure")["sg-compare-table"]["children"]["props"]["children"][0])
    spread = next(r for r in rows if r[0] == registry.STRATEGIES["spread"].label)
    assert spread[-1] == "(needs a second location)"


def test_the_comparison_from_a_brazil_day_without_midnight_is_answered(site):
    # daylight saving began at 00:00 on 2018-11-04 in Sao Paulo: the day starts at 01:00
    answer = _ask(site, "sg-compare.figure", **{"sg-market.value": "BRAZIL", "sg-location.value": "SE",
                                                "sg-dates.start_date": "2018-11-04", "sg-dates.end_date": "2018-11-10"})
    assert answer["sg-download-compare-btn"]["disabled"] is True  # no Brazil prices stored here


def test_the_strategies_side_by_side_download_as_numbers_with_their_units(site):
    _, store = site
    data = _ask(site, "sg-download-compare.data")["sg-download-compare"]["data"]
    assert data["filename"] == f"NEM_SA1_strategies_{START}_{END}.csv"
    frame = pd.read_csv(io.StringIO(data["content"]), keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["strategy", "label", "pnl (AUD)", "total_return (fraction)", "sharpe", "sortino",
                                   "max_drawdown (fraction)", "win_rate (fraction)", "profit_factor",
                                   "exposure (fraction)", "trades", "not_run_because"]
    run = {name: s for name, s in registry.STRATEGIES.items() if s.legs == 1}
    assert list(frame["strategy"]) == [*run, "spread"]  # as the page's table: the one not run last
    prices = series.load_prices(store, "NEM", "SA1", pd.Timestamp(START), pd.Timestamp(END) + pd.Timedelta(days=1),
                                with_forecast=True)
    expected = evaluate.compare(run, prices.frame, Book(), prices.freq)
    ran = frame.set_index("strategy").loc[list(run)]
    for metric in METRICS:
        column = views.metric_column(metric, "AUD")
        np.testing.assert_allclose(ran[column].astype(float), expected[metric].astype(float), rtol=1e-12,
                                   err_msg=metric)
    assert f",{int(expected.at['momentum', 'trades'])},\n" in data["content"]  # a count, written whole
    spread = frame.set_index("strategy").loc["spread"]
    assert spread["not_run_because"] == "needs a second location" and np.isnan(spread["pnl (AUD)"])
    with_other = _ask(site, "sg-download-compare.data", **{"sg-other.value": "VIC1"})["sg-download-compare"]["data"]
    assert with_other["filename"] == f"NEM_SA1_VIC1_strategies_{START}_{END}.csv"
    assert pd.read_csv(io.StringIO(with_other["content"]))["not_run_because"].isna().all()


def test_the_parameter_heatmap_spans_the_first_two_grid_axes(site):
    answer = _ask(site, "sg-heatmap.figure", **{"sg-heatmap-metric.value": "total_return"})
    figure = answer["sg-heatmap"]["figure"]
    heat = figure["data"][0]
    grid = registry.STRATEGIES["mean_reversion"].grid
    assert heat["type"] == "heatmap"
    assert list(heat["x"]) == list(grid["lookback"]) and list(heat["y"]) == list(grid["entry"])
    assert "Total return" in heat["hovertemplate"] and "lookback" in heat["hovertemplate"]
    assert figure["data"][1]["x"] == [48.0] and figure["data"][1]["y"] == [2.0]  # the chosen, ringed
    assert "20 × 20 combinations; the other parameters at their defaults (exit 0.5)" in \
        answer["sg-heatmap-note"]["children"]
    # the engine's grid, read off the hover text (the metric as the tables print it)
    expected = evaluate.heatmap(registry.STRATEGIES["mean_reversion"], _prices(site[1]).frame, Book(),
                                pd.Timedelta(minutes=5), "lookback", "entry", metric="total_return")
    assert heat["text"][3][5] == sf.metric_text("share", expected.iat[3, 5])
    moved = _ask(site, "sg-heatmap.figure", params={"lookback": 120.0, "entry": 2.4, "exit": 0.5},
                 **{"sg-heatmap-metric.value": "total_return"})
    assert moved["sg-heatmap"]["figure"]["data"][1]["x"] == [120.0]
    assert moved["sg-heatmap"]["figure"]["data"][0]["text"] == heat["text"]  # the same grid: others at defaults


def test_the_parameter_heatmap_downloads_every_combination_with_the_metrics_unit(site):
    answer = _ask(site, "sg-heatmap.figure", **{"sg-heatmap-metric.value": "pnl"})
    assert answer["sg-download-heatmap-btn"]["disabled"] is False  # a heatmap drawn: its CSV is live
    rule = registry.STRATEGIES["mean_reversion"]
    prices = _prices(site[1])
    for metric, column in (("pnl", "pnl (AUD)"), ("total_return", "total_return (fraction)"), ("sharpe", "sharpe")):
        data = _ask(site, "sg-download-heatmap.data", **{"sg-heatmap-metric.value": metric}
                    )["sg-download-heatmap"]["data"]
        assert data["filename"] == f"NEM_SA1_mean_reversion_heatmap_{metric}_{START}_{END}.csv"
        frame = pd.read_csv(io.StringIO(data["content"]))
        assert list(frame.columns) == ["lookback", "entry", "exit", column]
        expected = evaluate.heatmap(rule, prices.frame, Book(), prices.freq, "lookback", "entry", metric=metric)
        assert len(frame) == expected.size == len(rule.grid["lookback"]) * len(rule.grid["entry"])
        # the heatmap's rows (entry) outer, its columns (lookback) inner; the other parameter at its default
        assert frame["entry"].tolist() == np.repeat(expected.index.to_numpy(), len(expected.columns)).tolist()
        assert frame["lookback"].tolist() == np.tile(expected.columns.to_numpy(), len(expected.index)).tolist()
        assert frame["lookback"].dtype == np.int64  # bars, written whole
        assert (frame["exit"] == rule.defaults["exit"]).all()
        np.testing.assert_allclose(frame[column], expected.to_numpy().ravel(), rtol=1e-12)  # unrounded
    # nothing drawn: the button says so, and a click sends nothing
    refused = _ask(site, "sg-heatmap.figure", **{"sg-heatmap-metric.value": "astrology"})
    assert refused["sg-download-heatmap-btn"]["disabled"] is True
    empty = {"sg-dates.start_date": "2025-01-01", "sg-dates.end_date": "2025-01-31"}
    assert _ask(site, "sg-heatmap.figure", **empty)["sg-download-heatmap-btn"]["disabled"] is True
    assert _ask(site, "sg-download-heatmap.data", **empty) == {}


def test_the_walk_forward_lists_its_folds_and_draws_the_out_of_sample_equity(site):
    answer = _ask(site, "sg-wf-equity.figure")
    rows = _table_rows(answer["sg-wf-table"]["children"])
    assert len(rows) >= 1
    assert "lookback" in rows[0][2] and "entry" in rows[0][2]
    assert len(_values(answer["sg-wf-equity"]["figure"]["data"][0])) > 0
    assert answer["sg-download-folds-btn"]["disabled"] is False
    assert answer["sg-download-wf-equity-btn"]["disabled"] is False
    answer = _ask(site, "sg-wf-equity.figure", **{"sg-wf-window.value": "180/30"})
    assert "A walk-forward of 180 days' training and 30 days' test needs at least 210 days of prices" in str(
        answer["sg-wf-table"]["children"])
    assert answer["sg-download-folds-btn"]["disabled"] is True  # no folds: the CSV buttons say so
    assert answer["sg-download-wf-equity-btn"]["disabled"] is True
    assert _ask(site, "sg-download-wf-equity.data", **{"sg-wf-window.value": "180/30"}) == {}


def test_the_walk_forward_equity_downloads_bar_by_bar_in_the_zone_shown(site):
    _, store = site
    prices = _prices(store)
    per_day = 24 * 12
    expected = evaluate.walk_forward(registry.STRATEGIES["mean_reversion"], prices.frame, Book(), prices.freq,
                                     30 * per_day, 7 * per_day, metric="sharpe")
    for tz, label, offset in (("market", "NEM time (UTC+10)", "+10:00"), ("utc", "UTC", "+00:00")):
        data = _ask(site, "sg-download-wf-equity.data", **{"sg-tz.value": tz})["sg-download-wf-equity"]["data"]
        assert data["filename"] == (f"NEM_SA1_mean_reversion_walk_forward_equity_30-7_sharpe_{START}_{END}_"
                                    f"{'UTC' if tz == 'utc' else 'market-time'}.csv")
        frame = pd.read_csv(io.StringIO(data["content"]))
        header = f"bar_start ({label})"
        assert list(frame.columns) == ["fold", header, "equity (AUD)"]
        assert len(frame) == len(expected.equity)
        assert frame[header].str.endswith(offset).all()
        assert (pd.to_datetime(frame[header], utc=True) == pd.DatetimeIndex(expected.equity.index)).all()
        np.testing.assert_allclose(frame["equity (AUD)"], expected.equity.to_numpy(), rtol=1e-12)
        # each bar in the fold whose test window holds it, numbered as the folds' CSV numbers them
        folds = expected.folds
        assert frame["fold"].tolist() == [
            next(i + 1 for i, f in folds.iterrows() if f["test_start"] <= t <= f["test_end"])
            for t in expected.equity.index]
        assert sorted(set(frame["fold"])) == list(range(1, len(folds) + 1))


def test_the_walk_forward_folds_download_in_the_zone_shown(site):
    _, store = site
    prices = _prices(store)
    per_day = 24 * 12
    expected = evaluate.walk_forward(registry.STRATEGIES["mean_reversion"], prices.frame, Book(), prices.freq,
                                     30 * per_day, 7 * per_day, metric="total_return").folds
    for tz, label, offset in (("market", "NEM time (UTC+10)", "+10:00"), ("utc", "UTC", "+00:00")):
        data = _ask(site, "sg-download-folds.data", **{"sg-tz.value": tz, "sg-wf-metric.value": "total_return"}
                    )["sg-download-folds"]["data"]
        assert data["filename"] == (f"NEM_SA1_mean_reversion_walk_forward_30-7_total_return_{START}_{END}_"
                                    f"{'UTC' if tz == 'utc' else 'market-time'}.csv")
        frame = pd.read_csv(io.StringIO(data["content"]))
        times = [f"{w}_{e}_bar_start ({label})" for w in ("train", "test") for e in ("first", "last")]
        assert list(frame.columns) == ["fold", *times, "lookback", "entry", "exit",
                                       "in_sample_total_return (fraction)", "out_of_sample_total_return (fraction)"]
        assert list(frame["fold"]) == list(range(1, len(expected) + 1))
        for column, engine_column in zip(times, ("train_start", "train_end", "test_start", "test_end"), strict=True):
            assert frame[column].str.endswith(offset).all()
            assert (pd.to_datetime(frame[column], utc=True) == pd.DatetimeIndex(expected[engine_column])).all()
        for name in ("lookback", "entry", "exit"):
            np.testing.assert_array_equal(frame[name], expected[name])
        assert frame["lookback"].dtype == np.int64  # bars, written whole
        np.testing.assert_allclose(frame["in_sample_total_return (fraction)"], expected["in_sample"], rtol=1e-12)
        np.testing.assert_allclose(frame["out_of_sample_total_return (fraction)"], expected["out_of_sample"],
                                   rtol=1e-12)
    assert frame["train_first_bar_start (UTC)"].iloc[0] == "2026-09-21T14:00:00+00:00"  # 22 Sep 00:00 NEM time


def test_the_live_record_lists_each_strategy(site):
    _, store = site
    record.record_live(store, now=LAST_DAY + pd.Timedelta(days=1))
    other = queries.price_locations(store, "NEM")[1]  # the live job records the first location only
    unrecorded = _ask(site, "sg-live.children", **{"sg-location.value": other})
    assert unrecorded["sg-download-live-btn"]["disabled"] is True  # nothing to download: the button says so
    answer = _ask(site, "sg-live.children")
    assert answer["sg-download-live-btn"]["disabled"] is False
    rows = _table_rows(answer["sg-live"]["children"]["props"]["children"][0])
    labels = {r[0] for r in rows}
    assert registry.STRATEGIES["mean_reversion"].label in labels


def test_the_whole_live_record_downloads(site):
    _, store = site
    record.record_live(store, now=LAST_DAY + pd.Timedelta(days=1))
    location = queries.price_locations(store, "NEM")[0]  # the live job records the market's first location
    expected = record.live_record(store, "NEM", location)
    assert len(expected) > views.LIVE_ROWS  # more than the page lists: the file has every one
    for tz, label, offset in (("market", "NEM time (UTC+10)", "+10:00"), ("utc", "UTC", "+00:00")):
        data = _ask(site, "sg-download-live.data", **{"sg-location.value": location, "sg-tz.value": tz}
                    )["sg-download-live"]["data"]
        assert data["filename"] == f"NEM_{location}_live_signals_{'UTC' if tz == 'utc' else 'market-time'}.csv"
        frame = pd.read_csv(io.StringIO(data["content"]), keep_default_na=False, na_values=[""])
        assert list(frame.columns) == [
            "strategy", "label", "params", "second_leg", f"decided_at ({label})", "direction",
            "confidence (fraction)", "price_at_decision (AUD/MWh)", "hedge_ratio", f"recorded_at ({label})", "live",
            f"entry_bar_start ({label})", "entry_price (AUD/MWh)", f"exit_bar_start ({label})",
            "exit_price (AUD/MWh)", "status", "pnl_per_mw (AUD)"]
        assert len(frame) == len(expected)
        assert frame[f"decided_at ({label})"].str.endswith(offset).all()
        assert (pd.to_datetime(frame[f"decided_at ({label})"], utc=True) == pd.DatetimeIndex(expected["time"])).all()
        held = expected["entry_time"].notna().to_numpy()
        assert (pd.to_datetime(frame.loc[held, f"entry_bar_start ({label})"], utc=True).to_numpy()
                == pd.DatetimeIndex(expected.loc[held, "entry_time"]).to_numpy()).all()
        assert frame["direction"].tolist() == expected["direction"].map({1: "long", -1: "short", 0: "flat"}).tolist()
        np.testing.assert_allclose(frame["pnl_per_mw (AUD)"], expected["pnl"].astype(float), rtol=1e-12)
        np.testing.assert_allclose(frame["exit_price (AUD/MWh)"], expected["exit_price"].astype(float), rtol=1e-12)
        assert frame["status"].tolist() == expected["status"].tolist()
        assert frame["live"].tolist() == expected["live"].tolist()
    # a location with no recorded signals, or a forged one, sends nothing
    other = next(loc for loc in queries.price_locations(store, "NEM") if loc != location)
    assert _ask(site, "sg-download-live.data", **{"sg-location.value": other}) == {}
    assert _ask(site, "sg-download-live.data", **{"sg-location.value": {"x": 1}}) == {}


def test_the_orders_panel_refuses_while_routing_is_off(site):
    _, store = site
    answer = _ask(site, "sg-live-signal.children")
    assert answer["sg-send-order"]["disabled"] is True
    assert answer["sg-order-reason"]["children"]  # why: no counterparty configured, or routing off
    assert "Live signal" in json.dumps(answer["sg-live-signal"]["children"])
    before = row_counts(store)
    sent = _ask(site, "sg-order-result.children")
    assert sent["sg-order-result"]["color"] in ("warning", "danger")
    assert row_counts(store)["orders"] == before["orders"] == 0


@pytest.mark.slow
def test_the_live_signal_goes_out_as_an_order_and_its_state_comes_back(make_app, tmp_path):
    """Routing on and a real FIX counterparty (QuickFIX's acceptor): the page sends momentum's live signal as a
    market order of the account's size, and lists the order in the state the execution report gave it."""
    with Acceptor(tmp_path, sender="C254P") as acceptor:
        dash_app = make_app(fix_host="127.0.0.1", fix_port=acceptor.port, fix_sender_comp_id="C254P",
                            fix_target_comp_id="BROKER", fix_heartbeat_seconds=1)
        store = services(dash_app.server).ready_store()
        save_demo_prices(store, locations=("SA1",), days=10)
        routing = services(dash_app.server).routing
        try:
            routing.set_enabled(True, Sender("admin@example.com", "admin"))
            client = dash_app.server.test_client()
            values = _good(params={"fast": 12.0, "slow": 48.0}, **{"sg-strategy.value": "momentum",
                                                                  "sg-book-size-mw.value": 2.5})
            signal = assert_answered(post(client, dash_app, callback_key(dash_app, "sg-live-signal.children"),
                                          values), "live signal")["response"]
            assert signal["sg-send-order"]["disabled"] is False and not signal["sg-order-reason"]["children"]
            live = views.live_signal(store, "NEM", "SA1", None, "momentum", {"fast": 12.0, "slow": 48.0},
                                     {"size_mw": 2.5})
            assert live.direction != 0 and f"order: {live.order['side']} 2.5 MW of NEM.SA1" in json.dumps(signal)
            sent = assert_answered(post(client, dash_app, callback_key(dash_app, "sg-order-result.children"),
                                        values), "send")["response"]
            assert sent["sg-order-result"]["color"] == "success"
            wait_for(lambda: acceptor.broker.orders_in, 20, "the order at the counterparty")
            received = acceptor.broker.orders_in[0]
            assert (received[55], received[54], float(received[38]), received[40]) == (
                "NEM.SA1", "1" if live.direction > 0 else "2", 2.5, "1")

            def listed() -> list[list[str]]:
                table = assert_answered(post(client, dash_app, callback_key(dash_app, "sg-orders-table.children"),
                                             values), "orders")["response"]["sg-orders-table"]["children"]
                return _table_rows(table)

            rows = wait_for(lambda: (r := listed()) and r[0][6] == "new" and r, 20, "the order's state: new")
            assert rows[0][1] == received[11] and rows[0][2:5] == ["NEM.SA1", live.order["side"], "2.5"]
        finally:
            routing.stop_session(5)


def test_a_role_that_may_not_send_is_refused(make_app, client_as):
    dash_app = make_app(auth=True, secret_key="test-secret")
    store = services(dash_app.server).ready_store()
    save_demo_prices(store, locations=("SA1",), days=10)
    client = client_as(dash_app, "analyst")
    values = _good(**{"sg-dates.start_date": "2026-10-25"})
    answer = assert_answered(post(client, dash_app, callback_key(dash_app, "sg-live-signal.children"), values),
                             "live signal")["response"]
    assert answer["sg-send-order"]["disabled"] is True
    assert answer["sg-order-reason"]["children"] == "Your role (analyst) may not send orders."
    sent = assert_answered(post(client, dash_app, callback_key(dash_app, "sg-order-result.children"), values),
                           "send")["response"]
    assert sent["sg-order-result"]["children"] == "Your role (analyst) may not send orders."
    assert row_counts(store)["orders"] == 0


def test_every_order_downloads_for_a_role_that_may_send_and_for_no_other(make_app, client_as):
    from dataclasses import replace

    from engine import orders as book

    dash_app = make_app(auth=True, secret_key="test-secret")
    store = services(dash_app.server).ready_store()
    save_demo_prices(store, locations=("SA1",), days=10)
    bought = book.save(store, book.new_order("NEM.SA1", "buy", 2.5, source="signals momentum", created_by="t@x"))
    filled = book.save(store, replace(bought, state="filled", filled_qty=2.5, avg_price=-12.375, order_id="B-1",
                                      sent_at=bought.created_at))
    typed = book.save(store, book.new_order("CAL27-BASE", "sell", 1.25, "limit", -3.5, created_by="t@x"))
    values = _good(**{"sg-dates.start_date": "2026-10-25", "sg-tz.value": "utc"})
    trader = client_as(dash_app, "trader")
    shown = assert_answered(post(trader, dash_app, callback_key(dash_app, "sg-orders-table.children"), values),
                            "orders")["response"]
    assert "d-flex" in shown["sg-orders-csv"]["className"]  # the button shows with the table
    data = assert_answered(post(trader, dash_app, callback_key(dash_app, "sg-download-orders.data"), values),
                           "orders CSV")["response"]["sg-download-orders"]["data"]
    assert data["filename"] == "orders_UTC.csv"
    frame = pd.read_csv(io.StringIO(data["content"]), keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["cl_ord_id", "order_id", "symbol", "side", "quantity", "ord_type", "limit_price",
                                   "state", "filled_qty", "avg_fill_price", "currency", "text", "source",
                                   "created_by", "created_at (UTC)", "sent_at (UTC)", "updated_at (UTC)"]
    assert frame["cl_ord_id"].tolist() == [typed.cl_ord_id, bought.cl_ord_id]  # newest first, each once
    newest, first = frame.iloc[0], frame.iloc[1]
    assert (newest["symbol"], newest["ord_type"], newest["limit_price"], newest["state"]) == (
        "CAL27-BASE", "limit", -3.5, "pending")  # a hand-typed symbol names no market we carry
    assert pd.isna(newest["currency"]) and pd.isna(newest["sent_at (UTC)"]) and pd.isna(newest["avg_fill_price"])
    assert (first["state"], first["quantity"], first["filled_qty"], first["avg_fill_price"], first["currency"],
            first["order_id"]) == ("filled", 2.5, 2.5, -12.375, "AUD", "B-1")
    assert pd.isna(first["limit_price"]) and first["source"] == "signals momentum"
    assert first["created_at (UTC)"] == pd.Timestamp(bought.created_at).tz_convert("UTC").isoformat()
    assert first["updated_at (UTC)"] == pd.Timestamp(filled.updated_at).tz_convert("UTC").isoformat()
    market_time = assert_answered(post(trader, dash_app, callback_key(dash_app, "sg-download-orders.data"),
                                       {**values, "sg-tz.value": "market"}), "orders CSV")["response"]
    assert "created_at (NEM time (UTC+10))" in market_time["sg-download-orders"]["data"]["content"]
    # an analyst sees no orders, and gets none by asking for the file
    analyst = client_as(dash_app, "analyst")
    hidden = assert_answered(post(analyst, dash_app, callback_key(dash_app, "sg-orders-table.children"), values),
                             "orders")["response"]
    assert hidden["sg-orders-csv"]["className"] == "d-none"
    assert assert_answered(post(analyst, dash_app, callback_key(dash_app, "sg-download-orders.data"), values),
                           "orders CSV") is None


def test_hostile_values_get_the_pages_message_and_change_nothing(site):
    dash_app, store = site
    client = dash_app.server.test_client()
    before = row_counts(store)
    render_key = callback_key(dash_app, "sg-price.figure")
    # (a second location is read by spread trading only: any name there leaves mean reversion's backtest as it is)
    for field in ("sg-market.value", "sg-location.value", "sg-dates.start_date", "sg-dates.end_date",
                  "sg-strategy.value", "sg-tz.value", "sg-scale.value", "sg-book-size-mw.value"):
        for value in HOSTILE:
            what = f"{field}={str(value)[:30]!r}"
            body = assert_answered(post(client, dash_app, render_key, _good(**{field: value})), what)
            assert body is None or body["response"]["sg-error"]["is_open"] is True, what
    for value in HOSTILE:
        body = assert_answered(post(client, dash_app, render_key, _good(params={"lookback": value, "entry": 2.0,
                                                                                "exit": 0.5})), "lookback")
        # 12345 is a number: a lookback longer than the days shown, which leaves the strategy flat
        assert body["response"]["sg-error"]["is_open"] is (value != 12345), f"lookback={str(value)[:30]!r}"
    # every server callback of the page (the one marking refused inputs runs in the browser), every control it reads
    sample = (HOSTILE[3], HOSTILE[8], HOSTILE[11])
    tried = 0
    for key in [k for k, entry in dash_app.callback_map.items() if "sg-" in k and "callback" in entry]:
        spec = dash_app.callback_map[key]
        for dep in spec["inputs"] + spec["state"]:
            field = f"{dep['id']}.{dep['property']}"
            if field.endswith("n_clicks") or _pattern(dep["id"]):
                continue
            for value in sample:
                assert_answered(post(client, dash_app, key, _good(**{field: value})), f"{key} {field}")
                tried += 1
    assert tried >= 30 * len(sample)
    # the parameter lists themselves, malformed
    for params in ({"x" * 100: 1.0}, {"lookback": [1, 2]}, {}):
        assert_answered(post(client, dash_app, render_key, _good(params=params)), f"params {params}")
    assert row_counts(store) == before


def test_the_page_opens_and_notes_what_a_link_asked_for(site):
    dash_app, store = site
    client = dash_app.server.test_client()
    assert client.get("/signals?market=NEM&location=VIC1&strategy=momentum").status_code == 200
    layout = next(p["layout"] for p in dash.page_registry.values() if p["path"] == "/signals")
    with dash_app.server.test_request_context("/signals"):
        opened = json.dumps(layout(market="NEM", location="QLD1", other="TAS1", strategy="astrology",
                                   start="nonsense", end="2026-10-31", tz="<script>"), cls=PlotlyJSONEncoder)
    for said in ("No NEM location 'QLD1' is offered; showing SA1", "No second location 'TAS1' is offered",
                 "No strategy 'astrology' is offered",
                 "The link's dates ('nonsense' to '2026-10-31') are not YYYY-MM-DD dates in order within the "
                 "stored 2026-09-22 to 2026-10-31; showing the latest days.",
                 "Time zone '<script>' is neither"):
        assert said in opened
    assert '"name": "lookback"' in opened  # the default strategy's parameter inputs
    nav = json.dumps(client.get("/_dash-layout").get_json())
    assert '"id": "nav-signals"' in nav
    link = nav[nav.index('"id": "nav-signals"') - 200: nav.index('"id": "nav-signals"') + 200]
    assert '"disabled": false' in link


def test_a_link_may_give_one_end_of_its_dates(site):
    """As on the overview: a start alone runs to the latest stored day, an end alone opens the page's usual
    DEFAULT_DAYS ending there (clipped to what is stored, and said so only when a date given was moved); a bad
    single date is named alone. The date pickers' callback reads one end the same way."""
    _, store = site

    def opened(start=None, end=None):
        choice = views.initial_choice(store, "NEM", "SA1", None, None, start, end)
        return choice.dates.start, choice.dates.end, choice.notes

    assert opened() == (START, END, ())
    assert opened(start="2026-10-20") == ("2026-10-20", END, ())
    assert opened(end="2026-10-10") == (START, "2026-10-10", ())  # 90 days back reach before the stored first
    assert opened(start="2026-01-01") == (START, END, ("Dates clipped to the stored 2026-09-22 to 2026-10-31.",))
    assert opened(start="2026-10-05", end="2026-10-12") == ("2026-10-05", "2026-10-12", ())
    assert opened(start="2026-13-40") == (START, END, (
        "The link's start date '2026-13-40' is not a YYYY-MM-DD date within the stored 2026-09-22 to 2026-10-31; "
        "showing the latest days.",))
    assert opened(end="2027-03-01")[2] == (
        "The link's end date '2027-03-01' is not a YYYY-MM-DD date within the stored 2026-09-22 to 2026-10-31; "
        "showing the latest days.",)
    picked = views.stored_dates(store, "NEM", "SA1", None, "2026-10-10")
    assert (picked.start, picked.end) == (START, "2026-10-10")
    picked = views.stored_dates(store, "NEM", "SA1", "2026-10-28", "")
    assert (picked.start, picked.end) == ("2026-10-28", END)
    picked = views.stored_dates(store, "NEM", "SA1", "2026-11-05", "2026-11-09")  # nothing stored: the latest
    assert (picked.start, picked.end) == (START, END)


def test_an_empty_store_gets_a_message_not_an_error(make_app):
    app = make_app()
    client = app.server.test_client()
    assert client.get("/signals").status_code == 200
    values = {"sg-strategy.value": "mean_reversion", "sg-tz.value": "market",
              "params": dict(registry.STRATEGIES["mean_reversion"].defaults)}
    answer = assert_answered(post(client, app, callback_key(app, "sg-price.figure"), values), "render")["response"]
    assert answer["sg-error"]["is_open"] is False
    assert "No prices are stored yet" in answer["sg-notes"]["children"]
    # no backtest: nothing to download, and the buttons say so
    assert answer["sg-download-trades-btn"]["disabled"] is True and answer["sg-download-equity-btn"]["disabled"]


def test_lines_keep_each_buckets_extremes_and_small_series_whole():
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 500)
    y[12_345], y[67_890] = 50.0, -40.0
    tx, ty = sf.thinned(x, y, 1000)
    assert len(tx) <= 1002 and ty.max() == 50.0 and ty.min() == -40.0
    assert tx[0] == 0 and tx[-1] == 99_999 and np.all(np.diff(tx) > 0)
    assert sf.thinned(x[:10], y[:10])[1].tolist() == y[:10].tolist()


def test_times_are_written_with_the_offset_of_the_zone_shown():
    times = pd.DatetimeIndex(["2026-04-05 01:30", "2026-11-01 15:00", None], tz="UTC")
    assert queries.iso_times(times, "America/New_York").tolist() == ["2026-04-04T21:30:00-04:00",
                                                                   "2026-11-01T10:00:00-05:00", ""]
    assert queries.iso_times(times[:1], "Etc/GMT-10").tolist() == ["2026-04-05T11:30:00+10:00"]
    assert queries.iso_times(pd.DatetimeIndex([], tz="UTC"), "Etc/GMT-10").tolist() == []
    # the store answers in milliseconds: the same text
    assert queries.iso_times(times.as_unit("ms"), "America/New_York").tolist() == [
        "2026-04-04T21:30:00-04:00", "2026-11-01T10:00:00-05:00", ""]
    assert queries.iso_times(pd.DatetimeIndex([964_000_000], tz="UTC", dtype="datetime64[ms, UTC]"),
                             "Etc/GMT-10").tolist() == ["1970-01-12T13:46:40+10:00"]
    # a sub-second time, and a zone whose old offset has seconds, are written as isoformat writes them
    assert queries.iso_times(pd.DatetimeIndex(["2026-04-05 01:30:00.250", None], tz="UTC"), "UTC").tolist() == \
        ["2026-04-05T01:30:00.250000+00:00", ""]
    assert queries.iso_times(pd.DatetimeIndex(["1890-01-01 12:00"], tz="UTC"), "Europe/Amsterdam").tolist() == \
        [pd.Timestamp("1890-01-01 12:00", tz="UTC").tz_convert("Europe/Amsterdam").isoformat()]
