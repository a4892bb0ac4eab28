"""Live signals: each strategy's decisions on each market's default location, recorded as they are made, and their
record valued at the stored prices when read.

``record_live`` runs every strategy at its defaults on the latest ``HISTORY_DAYS`` of prices and records each
change of direction decided at a bar's close since the last one recorded (at most ``CATCH_UP_DAYS`` back, so a
missed run loses no change; ``recorded_at`` tells a decision recorded as it happened from one caught up later).
A decision already stored is never written again.

``live_record`` values them: a signal decided at the close of bar t is executed at the next stored bar's price
and held, per MW, until the bar the next recorded change executes at (a unit is 1 MWh bought at one interval's
price and sold at a later one); the newest is marked to the latest stored price. A spread signal holds the
second leg at the hedge ratio in force when it was decided (a live trade is not rebalanced bar by bar). Fees
are left out: the P&L is per MW, gross. Nothing is stored but the decisions, so the record is never stale.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from engine import queries
from engine.markets import MARKETS
from engine.signals import registry, series
from engine.signals.spread import hedge_ratios
from engine.store import DEMO_SOURCE, Store, write_tables

log = logging.getLogger(__name__)

#: Prices each decision is computed from: enough for every strategy's warm-up at its defaults on hourly bars.
HISTORY_DAYS = 120
#: How far back a run records changes it has not seen (after a restart, or when prices landed late).
CATCH_UP_DAYS = 7
#: The source of signals decided on real prices (those on demo prices carry DEMO_SOURCE).
LIVE_SOURCE = "signals"
#: Extra minutes after a market's expected data delay within which a recorded decision counts as live.
LIVE_SLACK_MINUTES = 10
RECORD_COLUMNS = ("strategy", "label", "params", "other", "time", "direction", "confidence", "price", "hedge",
                  "recorded_at", "live", "entry_time", "entry_price", "exit_time", "exit_price", "status", "pnl")
SUMMARY_COLUMNS = ("strategy", "label", "signals", "trades", "closed", "wins", "hit_rate", "realised_pnl", "open_pnl",
                   "direction", "since")


def params_json(params: Mapping[str, float]) -> str:
    """Parameters as stored: JSON with sorted names, whole numbers written as integers."""
    def plain(value: float) -> int | float:
        value = float(value)
        return int(value) if value.is_integer() else value

    return json.dumps({name: plain(value) for name, value in params.items()}, sort_keys=True)


def _utc(value: object, what: str) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if value is None else pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"{what} {ts} has no time zone: give a UTC instant")
    return ts.tz_convert("UTC")


# ------------------------------------------------------------------------------------------------ recording


def record_live(store: Store, now: object = None) -> pd.DataFrame:
    """Record every strategy's new decisions on each market's default location (see the module docstring);
    returns the rows written (the signals table's columns). A market or strategy that fails is logged; the rest
    record."""
    at = _utc(now, "now")
    frames = []
    for market in queries.markets_with_prices(store):
        if market not in MARKETS:
            continue
        try:
            frames.append(_new_decisions(store, market, at))
        except Exception:
            log.exception("recording the live signals of %s failed", market)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["market", "location", "other", "strategy", "params", "time", "price_kind",
                                     "interval_minutes", "direction", "confidence", "price", "hedge", "source"])
    rows = pd.concat(frames, ignore_index=True)
    write_tables(store, {"signals": rows})
    return rows


def _new_decisions(store: Store, market: str, now: pd.Timestamp) -> pd.DataFrame:
    location = series.default_location(store, market)
    if location is None:
        return pd.DataFrame()
    kind = queries.price_kinds(store, market, location)[0]
    newest = queries.latest_prices(store, market)
    newest = newest.loc[(newest["location"] == location) & (newest["price_kind"] == kind)]
    if newest.empty:
        return pd.DataFrame()
    bar = pd.Timedelta(minutes=int(newest["interval_minutes"].iloc[0]))
    end = min(now, pd.Timestamp(newest["interval_start"].iloc[0]) + bar)
    start = end - pd.Timedelta(days=HISTORY_DAYS)
    prices = series.load_prices(store, market, location, start, end, with_forecast=True)
    other = _second_leg(store, market, location)
    pair = None
    if other is not None and any(s.legs == 2 for s in registry.STRATEGIES.values()):
        try:
            pair = series.load_prices(store, market, location, start, end, other=other)
        except series.SeriesError as exc:
            log.info("no spread signals for %s %s against %s: %s", market, location, other, exc)
    recorded = _last_recorded(store, market, location)
    out = []
    for name, strategy in registry.STRATEGIES.items():
        loaded = prices if strategy.legs == 1 else pair
        if loaded is None:
            continue
        try:
            decided = _decisions(name, strategy, loaded)
        except ValueError:  # e.g. too few bars for its defaults: the other strategies still record
            log.exception("%s decisions on %s %s failed", name, market, location)
            continue
        decided = decided.loc[decided.index <= now]
        key = (loaded.other or "", name, params_json(strategy.defaults))
        last_time, last_direction = recorded.get(key, (None, None))
        changes = _changes(decided, last_time, last_direction, decided.index.max() - pd.Timedelta(days=CATCH_UP_DAYS))
        if changes.empty:
            continue
        out.append(pd.DataFrame({
            "market": market, "location": location, "other": key[0], "strategy": name, "params": key[2],
            "time": changes.index, "price_kind": loaded.price_kind,
            "interval_minutes": int(loaded.freq / pd.Timedelta(minutes=1)), "direction": changes["direction"],
            "confidence": changes["confidence"], "price": changes["price"], "hedge": changes["hedge"],
            "source": DEMO_SOURCE if loaded.is_demo else LIVE_SOURCE}).reset_index(drop=True))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _second_leg(store: Store, market: str, location: str) -> str | None:
    """The spread's second leg on the live record: the market's next stored location, if any."""
    others = [loc for loc in queries.price_locations(store, market) if loc != location]
    return others[0] if others else None


def _decisions(name: str, strategy, loaded: series.PriceSeries) -> pd.DataFrame:
    """A strategy's decision at each bar's close (indexed by the close): direction, confidence, the price, and
    for a spread the hedge ratio the next bar holds."""
    frame = loaded.frame
    made = strategy.signals(frame, {p: [v] for p, v in strategy.defaults.items()})
    position = np.asarray(made.position, dtype=float)[:, 0]
    hedge = np.zeros(len(frame))
    if strategy.legs == 2:
        price, other = frame["price"].to_numpy(float), frame["other"].to_numpy(float)
        # the ratio fitted on the window ending at each bar (what hedge_ratios puts in force for the bar after)
        hedge = hedge_ratios(np.append(price, price[-1]), np.append(other, other[-1]),
                             int(strategy.defaults["hedge"]))[1:]
    closes = pd.DatetimeIndex(frame.index + loaded.freq, name="time")
    return pd.DataFrame({"direction": np.sign(position).astype(np.int8),
                         "confidence": np.asarray(made.confidence, dtype=float)[:, 0],
                         "price": frame["price"].to_numpy(float), "hedge": np.nan_to_num(hedge)}, index=closes)


def _changes(decided: pd.DataFrame, last_time: pd.Timestamp | None, last_direction: int | None,
             catch_up_from: pd.Timestamp) -> pd.DataFrame:
    """The decisions after the last recorded one (and within the catch-up) whose direction differs from the
    one before; the first decision ever is recorded whatever it is."""
    after = decided.loc[decided.index >= catch_up_from]
    if last_time is not None:
        after = after.loc[after.index > last_time]
    if after.empty:
        return after
    before = after["direction"].shift(1)
    before.iloc[0] = np.nan if last_direction is None else last_direction
    return after.loc[after["direction"] != before]


def _last_recorded(store: Store, market: str, location: str) -> dict[tuple[str, str, str], tuple[pd.Timestamp, int]]:
    """(second leg, strategy, parameters) → (time, direction) of the newest recorded decision."""
    df = store.query_df(
        "SELECT other, strategy, params, max(time) AS last_time, argMax(direction, time) AS last_direction "
        "FROM signals FINAL WHERE market = {m:String} AND location = {l:String} GROUP BY other, strategy, params",
        {"m": market, "l": location})
    return {(r.other, r.strategy, r.params): (pd.Timestamp(r.last_time), int(r.last_direction))
            for r in df.itertuples()}


# ------------------------------------------------------------------------------------------------ the record


def recorded(store: Store, market: str, location: str) -> pd.DataFrame:
    """The stored decisions of one location, oldest first."""
    return store.query_df(
        "SELECT other, strategy, params, time, price_kind, interval_minutes, direction, confidence, price, hedge, "
        "recorded_at FROM signals FINAL WHERE market = {m:String} AND location = {l:String} "
        "ORDER BY strategy, other, params, time", {"m": market, "l": location})


def live_record(store: Store, market: str, location: str | None = None) -> pd.DataFrame:
    """Each recorded signal of a location (the market's default one when None) with its P&L per MW at the stored
    prices (see the module docstring), oldest first: columns RECORD_COLUMNS. ``status``: flat (no
    position), pending (its execution bar is not stored yet), open (the newest, marked to the latest price) or
    closed; ``live``: recorded within the market's usual data delay of its decision."""
    info = queries.known_market(market)
    location = location or series.default_location(store, market)
    if location is None:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    queries.checked_name(location, "location")
    rows = recorded(store, market, location)
    if rows.empty:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    rows["time"] = pd.DatetimeIndex(rows["time"]).as_unit("ns")
    span = queries.data_span(store, market, location, rows["price_kind"].iloc[0])
    end = span[1] + pd.Timedelta(days=2) if span is not None else rows["time"].max() + pd.Timedelta(days=1)
    start = rows["time"].min() - pd.Timedelta(days=1)
    legs = {}
    for other in rows["other"].unique():
        try:
            legs[other] = series.load_prices(store, market, location, start, end, other=other or None,
                                             price_kind=rows["price_kind"].iloc[0]).frame
        except series.SeriesError:
            legs[other] = None
    labels = registry.labels()
    lag = pd.Timedelta(minutes=info.expected_delay_minutes + LIVE_SLACK_MINUTES)
    parts = []
    for (strategy, other, params), group in rows.groupby(["strategy", "other", "params"], sort=True):
        part = _valued(group.reset_index(drop=True), legs.get(other))
        part.insert(0, "strategy", strategy)
        part.insert(1, "label", labels.get(strategy, strategy))
        part.insert(2, "params", params)
        part.insert(3, "other", other)
        part["live"] = (part["recorded_at"] - part["time"]) <= lag
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out = out.assign(_rank=out["strategy"].map(_rank))
    return out.sort_values(["time", "_rank", "other", "params"], ignore_index=True)[list(RECORD_COLUMNS)]


def _rank(strategy: str) -> int:
    """A strategy's place in the registry's order (one it does not list last)."""
    order = list(registry.STRATEGIES)
    return order.index(strategy) if strategy in order else len(order)


def _valued(group: pd.DataFrame, prices: pd.DataFrame | None) -> pd.DataFrame:
    """One strategy's decisions with their execution and exit bars, prices and P&L per MW."""
    direction = group["direction"].to_numpy(dtype=float)
    out = group[["time", "direction", "confidence", "price", "hedge", "recorded_at"]].copy()
    if prices is None or prices.empty:
        out = out.assign(entry_time=pd.NaT, entry_price=np.nan, exit_time=pd.NaT, exit_price=np.nan,
                         status=np.where(direction == 0, "flat", "pending"), pnl=np.where(direction == 0, 0.0, np.nan))
        return out
    bars = prices.index
    price = prices["price"].to_numpy(float)
    other = prices["other"].to_numpy(float) if "other" in prices.columns else np.zeros(len(bars))
    # executed at the first stored bar starting at or after the decision's close
    entry = np.searchsorted(bars.asi8, pd.DatetimeIndex(group["time"]).as_unit("ns").asi8, side="left")
    stored = entry < len(bars)
    # held until the next decision executes; the newest (or one whose successor is not executed yet) is open
    following = np.append(entry[1:], len(bars))
    closed = following < len(bars)
    exit_ = np.where(closed, following, len(bars) - 1)
    entry = np.minimum(entry, len(bars) - 1)
    hedge = group["hedge"].to_numpy(dtype=float)
    pnl = direction * ((price[exit_] - price[entry]) - hedge * (other[exit_] - other[entry]))
    held = stored & (direction != 0)
    out["entry_time"] = pd.DatetimeIndex(bars[entry]).where(stored)
    out["entry_price"] = np.where(stored, price[entry], np.nan)
    out["exit_time"] = pd.DatetimeIndex(bars[exit_]).where(held)
    out["exit_price"] = np.where(held, price[exit_], np.nan)
    out["status"] = np.where(direction == 0, "flat", np.where(~stored, "pending", np.where(closed, "closed", "open")))
    out["pnl"] = np.where(direction == 0, 0.0, np.where(stored, pnl, np.nan))
    return out


def live_summary(record: pd.DataFrame) -> pd.DataFrame:
    """Per strategy (and second leg) of a ``live_record``: how many signals and trades, closed trades and the
    winners among them, hit rate, realised P&L (closed trades) and open P&L per MW, the direction held now and
    since when. Columns SUMMARY_COLUMNS."""
    if record.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = []
    ranked = record.assign(_rank=record["strategy"].map(_rank))
    for (_, strategy, _other), part in ranked.groupby(["_rank", "strategy", "other"], sort=True):
        part = part.sort_values("time")
        traded = part.loc[part["direction"] != 0]
        closed = traded.loc[traded["status"] == "closed"]
        wins = int((closed["pnl"] > 0).sum())
        newest = part.iloc[-1]
        rows.append({"strategy": strategy, "label": newest["label"], "signals": len(part), "trades": len(traded),
                     "closed": len(closed), "wins": wins, "hit_rate": wins / len(closed) if len(closed) else np.nan,
                     "realised_pnl": float(closed["pnl"].sum()),
                     "open_pnl": float(traded.loc[traded["status"] == "open", "pnl"].sum()),
                     "direction": int(newest["direction"]), "since": newest["time"]})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
