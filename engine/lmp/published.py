"""Basis of the operators' own published nodal prices (as the connectors loaded them) to one of their hubs."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.lmp.basis import basis, basis_statistics, basis_surface
from engine.lmp.patterns import CongestionPatterns
from engine.markets import market as market_info
from engine.queries import iso_times, node_names
from engine.store import Store

#: The days of prices the basis covers: the hub's last ones in the store for the market run.
DAYS = 31
#: The window: interval starts after the latest hour held less ``DAYS`` days (as ``queries.nodal_prices``).
#: The latest hour is looked up once per answer, from the daily aggregate's last day.
_WINDOW = "market = {m:String} AND market_run = {r:String} AND interval_start > {after:DateTime64(3, 'UTC')}"
#: The daily aggregate's days of the market run from ``d0`` to ``d1`` (UTC day starts).
_DAYS = ("market = {m:String} AND market_run = {r:String} AND bucket >= {d0:DateTime64(3, 'UTC')} "
         "AND bucket <= {d1:DateTime64(3, 'UTC')}")
#: A node's (or the hub's) sums over days of the daily aggregate, with what says whether they are whole.
_SUMS = "sum(lmp_sum) AS s, sum(samples) AS n, sum(aligned) AS a, min(minutes_min) AS lo, max(minutes_max) AS hi"
#: Days of the daily aggregate listed (``days``).
_ON_DAYS = "bucket IN {days:Array(DateTime64(3, 'UTC'))}"


@dataclass(frozen=True)
class PublishedBasis:
    market: str
    run: str
    hub: str
    hub_name: str              # the operator's name of the hub node ("" when it publishes none)
    zone: str                  # the IANA zone the hours of ``surface`` and the nodes' first and last are in
    zone_label: str            # how the page names ``zone``
    currency: str
    #: label ("name node"), node, name, count, mean, std, p5, p50, p95, min, max (the market's currency per MWh),
    #: first and last (interval starts in ``zone``): the largest absolute mean basis first
    nodes: pd.DataFrame
    surface: pd.DataFrame      # mean basis, node label x hour of day


def published_basis(store: Store, market: str, run: str, hub: str, *, top: int = 20,
                    zone_choice: str = "market") -> PublishedBasis:
    """The ``top`` nodes by absolute mean basis to ``hub`` over the hub's last 31 days of prices in the store, and
    their mean basis by hour of day in the market's time (or UTC). Raises KeyError when the hub has no prices."""
    # The window ends at the hub's latest price, not the run's: an operator's node files and hub files often
    # cover different months, and a basis to a hub is only defined where the hub has prices.
    window = _window(store, market, run, hub)
    # the hub's basis to itself is 0 at every hour: not a node to show
    largest = [n for n in _largest_mean_basis(store, window, hub, top + 1) if n != str(hub)][:top]
    # Only the chosen nodes' prices (and the hub's) come back to be described: a full network's month is
    # millions of rows, which the store ranks in a fraction of the time pandas would take to receive them.
    frame = basis(_nodal_prices(store, window, sorted({*largest, hub})), hub)
    info = market_info(market)
    zone = info.display_zone(zone_choice)
    frame["interval_start"] = frame["interval_start"].dt.tz_convert(zone)
    stats = basis_statistics(frame[frame["node"].isin(largest)])
    names = node_names(store, market)
    chosen = stats.reindex(stats["mean"].abs().sort_values(ascending=False).index).head(top)
    labels = {n: f"{names.get(n, '')} {n}".strip() for n in chosen["node"]}
    chosen.insert(0, "label", chosen["node"].map(labels))
    chosen.insert(2, "name", chosen["node"].map(lambda n: names.get(n, "")))
    shown = frame[frame["node"].isin(chosen["node"])]
    span = shown.groupby("node")["interval_start"].agg(first="min", last="max")
    chosen = chosen.join(span, on="node")
    surface = basis_surface(shown, by="hour")
    surface.index = surface.index.map(labels)
    return PublishedBasis(market, run, str(hub), names.get(str(hub), ""), zone, info.display_label(zone_choice),
                          info.currency, chosen.reset_index(drop=True), surface)


def published_basis_export(found: PublishedBasis) -> pd.DataFrame:
    """The nodes' basis statistics as analysts download them: unrounded, in the market's currency per MWh (the
    headers say which), the intervals each statistic is over, and the first and last of them in the zone shown."""
    nodes = found.nodes
    unit = f"{found.currency}/MWh"
    frame = pd.DataFrame({"node": nodes["node"].to_numpy(), "name": nodes["name"].to_numpy(), "hub": found.hub,
                          "hub_name": found.hub_name, "intervals": nodes["count"].astype("int64").to_numpy()})
    for column in ("mean", "std", "p5", "p50", "p95", "min", "max"):
        frame[f"{column}_basis ({unit})"] = nodes[column].to_numpy(dtype=float)
    for end in ("first", "last"):
        frame[f"{end}_interval_start ({found.zone_label})"] = iso_times(nodes[end], found.zone)
    return frame


def patterns_export(found: CongestionPatterns, market_id: str) -> dict[str, pd.DataFrame]:
    """The congestion patterns as analysts download them, unrounded: "loadings", each node's loading on each
    pattern (unitless: its column of the orthonormal patterns); "activations", each hour's activation of each
    pattern in the market's currency per MWh (a node's congestion from a pattern is its loading times this), the
    hour's start in market time with its offset."""
    info = market_info(market_id)
    loadings = found.loadings.rename(columns=lambda p: f"{p}_loading").rename_axis("node").reset_index()
    acts = found.activations
    activations = pd.DataFrame({f"hour_start ({info.timezone_label})": iso_times(acts.index, info.timezone),
                                **{f"{p}_activation ({info.currency}/MWh)": acts[p].to_numpy(dtype=float)
                                   for p in acts.columns}})
    return {"loadings": loadings, "activations": activations}


def _window(store: Store, market: str, run: str, hub: str | None = None) -> dict:
    """The parameters of ``_WINDOW`` for the market run, ending at its latest hour (with ``hub``: the hub's),
    with the first and last UTC days the window holds (``first``: the day holding its start, partly outside
    it); None for each when the run (the hub) has no prices."""
    run_days = "market = {m:String} AND market_run = {r:String}" + ("" if hub is None else " AND node = {h:String}")
    latest = store.query_df(
        "SELECT max(bucket) AS day, toStartOfHour(max(start_max)) AS hour FROM nodal_lmp_daily "  # noqa: S608 -- fixed SQL; values are bound
        f"WHERE {run_days} AND bucket = (SELECT bucket FROM nodal_lmp_daily WHERE {run_days} "
        "ORDER BY bucket DESC LIMIT 1) HAVING count() > 0", {"m": market, "r": run, "h": str(hub)},
        columns_if_empty=False)
    if latest.empty:
        return {"m": market, "r": run, "after": None, "first": None, "last": None}
    after, last = latest["hour"].iat[0] - pd.Timedelta(days=DAYS), latest["day"].iat[0]
    return {"m": market, "r": run, "after": after.floor("ms").to_pydatetime(),
            "first": after.floor("D").to_pydatetime(), "last": last.to_pydatetime()}


def _largest_mean_basis(store: Store, window: dict, hub: str, top: int) -> list[str]:
    """The ``top`` nodes of the market run with the largest absolute mean basis to ``hub`` over the window
    (the hub price at a time is the mean of the hub node's prices then; times without one have no basis)."""
    mean = mean_basis(store, window, hub)
    ranked = pd.DataFrame({"node": mean.index, "size": mean.abs().to_numpy()})
    ranked = ranked.sort_values(["size", "node"], ascending=[False, True], kind="mergesort")
    return ranked["node"].head(max(int(top), 0)).tolist()


def _whole(days: pd.DataFrame) -> pd.Series:
    """Whether each row of sums (``_SUMS``) over one UTC day of one series is the whole day: every interval of
    the day once. That is one interval length dividing the day, every row starting on a multiple of it, and as
    many rows as the day has intervals (the rows of one series and length have distinct starts). A node and the
    hub both whole on a day with as many rows hold the same instants, once each."""
    length = days["hi"].astype("int64").clip(lower=1)
    return ((days["lo"] == days["hi"]) & (days["hi"] > 0) & (1440 % length == 0) & (days["n"] == 1440 // length)
            & (days["a"] == days["n"]))


def mean_basis(store: Store, window: dict, hub: str) -> pd.Series:
    """Each node's mean basis to ``hub`` over the window (``_window``): the basis summed over every instant
    the node and the hub both hold, over their count. Raises KeyError when no node has one.

    On a day where the node and the hub are both whole, that sum is the node's day's price sum less the hub's,
    which the daily aggregate holds. One pass over the hub's whole days gives each node's sums, and a node whose
    rows fill those days exactly is whole on each; only the other nodes are looked at day by day. The days
    either side is not whole on (the window's first day, an hour missing, mixed interval lengths) are joined to
    the hub from the base table as before, only for those nodes and days."""
    if window["last"] is None:
        raise KeyError(f"hub nodes not in the prices: {[str(hub)]}")
    after, first = pd.Timestamp(window["after"]), pd.Timestamp(window["first"])
    params = {**window, "h": str(hub), "d0": window["first"], "d1": window["last"]}
    hub_days = store.query_df(
        f"SELECT bucket, {_SUMS}, max(start_max) AS last FROM nodal_lmp_daily WHERE {_DAYS} "  # noqa: S608 -- fixed SQL; values are bound
        "AND node = {h:String} GROUP BY bucket", params, columns_if_empty=False)
    if len(hub_days):
        hub_days = hub_days[hub_days["last"] > after].set_index("bucket")  # days with prices in the window
    if hub_days.empty:
        raise KeyError(f"hub nodes not in the prices: {[str(hub)]}")
    whole = (_whole(hub_days) & (hub_days.index > first)).to_numpy()
    sums: list[pd.DataFrame] = []
    pairs: list[pd.DataFrame] = []  # a node's days to join from the base table
    for minutes in hub_days.loc[whole, "hi"].unique():
        days = hub_days[whole & (hub_days["hi"] == minutes).to_numpy()]
        on = {**params, "days": [t.to_pydatetime() for t in days.index]}
        nodes = store.query_df(
            f"SELECT node, {_SUMS} FROM nodal_lmp_daily WHERE {_DAYS} AND {_ON_DAYS} GROUP BY node",  # noqa: S608 -- fixed SQL; values are bound
            on, columns_if_empty=False)
        if nodes.empty:
            continue
        nodes["node"] = nodes["node"].astype(str)
        n = nodes["n"].to_numpy(float)
        every = ((nodes["lo"] == minutes) & (nodes["hi"] == minutes) & (nodes["a"] == nodes["n"])
                 & (n == len(days) * (1440 // int(minutes)))).to_numpy()
        sums.append(pd.DataFrame({"node": nodes["node"].to_numpy()[every],
                                  "sum": nodes["s"].to_numpy(float)[every] - days["s"].sum(), "n": n[every]}))
        rest = nodes["node"].to_numpy()[~every & (n > 0)]
        if not len(rest):
            continue
        by_day = store.query_df(
            f"SELECT node, bucket, {_SUMS} FROM nodal_lmp_daily WHERE {_DAYS} AND {_ON_DAYS} "  # noqa: S608 -- fixed SQL; values are bound
            "AND node IN {n:Array(String)} GROUP BY node, bucket", {**on, "n": sorted(rest)})
        by_day = by_day.merge(days[["s", "n"]], left_on="bucket", right_index=True, suffixes=("", "_hub"))
        together = (_whole(by_day) & (by_day["n"] == by_day["n_hub"])).to_numpy()
        sums.append(pd.DataFrame({"node": by_day["node"].astype(str).to_numpy()[together],
                                  "sum": (by_day["s"] - by_day["s_hub"]).to_numpy(float)[together],
                                  "n": by_day["n"].to_numpy(float)[together]}))
        pairs.append(pd.DataFrame({"node": by_day["node"].astype(str).to_numpy()[~together],
                                   "day": by_day["bucket"].dt.date.to_numpy()[~together]}))
    every_node = sorted(hub_days.index[~whole].date)
    pairs_frame = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame({"node": [], "day": []})
    if every_node or len(pairs_frame):
        sums.append(_joined_days(store, params, every_node, pairs_frame))
    total = pd.concat(sums, ignore_index=True).groupby("node")[["sum", "n"]].sum() if sums else None
    if total is None or not (total["n"] > 0).any():
        raise KeyError(f"hub nodes not in the prices: {[str(hub)]}")
    total = total[total["n"] > 0]
    return (total["sum"] / total["n"]).rename("mean")


def _joined_days(store: Store, params: dict, every_node: list, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per node, the window's basis summed over the instants the node and the hub both hold on UTC days from
    the base table, and their count: every node's on the days ``every_node``, and each node's own days of
    ``pairs`` (node, day)."""
    pair_days = sorted(set(pairs["day"]))
    days = sorted({*every_node, *pair_days})
    where = []
    if every_node:
        where.append("toDate(interval_start) IN {every:Array(Date)}")
    if pair_days:
        where.append("(node IN {n:Array(String)} AND toDate(interval_start) IN {own:Array(Date)})")
    span = ("interval_start >= toDateTime64({since:Date}, 3, 'UTC') "
            "AND interval_start < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY")
    found = store.query_df(
        "SELECT node, toDate(interval_start) AS day, sum(p.lmp - h.hub) AS sum, count() AS n "  # noqa: S608 -- the window is fixed SQL; values are bound
        f"FROM (SELECT interval_start, node, lmp FROM nodal_lmp FINAL WHERE {_WINDOW} AND {span} "
        f"AND ({' OR '.join(where)})) AS p "
        "INNER JOIN (SELECT interval_start, avg(lmp) AS hub FROM nodal_lmp FINAL "
        f"WHERE {_WINDOW} AND {span} AND toDate(interval_start) IN {{days:Array(Date)}} AND node = {{h:String}} "
        "GROUP BY interval_start) AS h USING interval_start GROUP BY node, day",
        {**params, "every": every_node, "own": pair_days, "n": sorted(set(pairs["node"])), "days": days,
         "since": days[0], "until": days[-1]})
    if found.empty:
        return pd.DataFrame({"node": [], "sum": [], "n": []})
    found = pd.DataFrame({"node": found["node"].astype(str).to_numpy(),
                          "day": pd.to_datetime(found["day"].to_numpy()).date,
                          "sum": found["sum"].to_numpy(float), "n": found["n"].to_numpy(float)})
    # The read covers the listed nodes on every listed day: only each node's own days count.
    keep = found["day"].isin(set(every_node)).to_numpy()
    if len(pairs):
        own = found.merge(pairs.drop_duplicates(), on=["node", "day"], how="left", indicator=True)["_merge"]
        keep |= (own == "both").to_numpy()
    return found.loc[keep, ["node", "sum", "n"]]


def _nodal_prices(store: Store, window: dict, nodes: list[str]) -> pd.DataFrame:
    """The window's published prices of ``nodes``, one row per interval and node (the price alone: the basis
    is of the price).

    Each key's latest version is its row of the highest batch (ReplacingMergeTree(batch_id) keeps no other),
    picked here rather than by FINAL, which merges the granules of the few nodes' whole parts before filtering:
    at a full network's size that took twice as long."""
    return store.query_df(
        "SELECT interval_start, node, argMax(lmp, batch_id) AS lmp FROM nodal_lmp "  # noqa: S608 -- the window is fixed SQL; values are bound
        f"WHERE {_WINDOW} AND node IN {{n:Array(String)}} GROUP BY node, interval_minutes, interval_start",
        {"m": window["m"], "r": window["r"], "after": window["after"], "n": nodes})
