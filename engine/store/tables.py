"""The series tables a connector may write: their natural keys and value columns, and which aggregate
tables are derived from them (so a revision can rebuild exactly the buckets it touched)."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.markets import MARKETS

#: The source of generated demo rows (real data of a market replaces them).
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class Aggregate:
    table: str
    select: str  # SELECT over the base table FINAL, by time bucket; the writer fills {where} and adds a HAVING
    # Days are fed from the hourly table: rebuilding hours also adds to the days around them, so a day
    # aggregate is rebuilt over a range this many days wider (and after the hours).
    widen_days: int = 0
    # An hourly aggregate the writer fills from each batch's inserted rows (migration 018 dropped the views
    # that did): its series columns in the table's order, then each value column with how it is computed
    # from one series-hour's rows (an op of writer.BATCH_OPS) and from which base column. Empty: the table
    # is fed otherwise (the days, by a view on the hours).
    group: tuple[str, ...] = ()
    from_batch: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class SeriesTable:
    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    time_column: str | None = "interval_start"
    aggregates: tuple[Aggregate, ...] = ()
    series_columns: tuple[str, ...] = ()  # the key columns naming one series (for aggregate rebuilds)
    # Value columns that are not Nullable: a row without them is no observation and is not stored
    # (ClickHouse would store a NaN sent to a plain Float64 column from a DataFrame as 0).
    required: tuple[str, ...] = ()
    # Value columns a connector may leave out, with the value stored for them then.
    optional: dict = field(default_factory=dict)
    # Value columns holding text (the rest are numbers, and the writer reads a column of numbers that came as
    # text as numbers).
    text: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.values


#: Each market's own zone (from the market registry), for SQL that follows a market's calendar (its days,
#: months and years). ClickHouse takes one constant zone per call, so the SQL names the markets one by one;
#: markets in DEFAULT_MARKET_ZONE fall to the last branch. Migrations since 008 take these through
#: ${MARKET_DAY_START(col)}, ${MARKET_MONTH(col)} and ${MARKET_YEAR(col)}; 001 and 006 spelled the zones out.
DEFAULT_MARKET_ZONE = "America/New_York"  # PJM, ISO-NE, and any market not in the registry
MARKET_ZONES = tuple((m.market, m.timezone) for m in MARKETS.values() if m.timezone != DEFAULT_MARKET_ZONE)


def in_market_zone(template: str) -> str:
    """SQL evaluating ``template`` (which names the zone as ``{zone}``) in the zone of each row's market."""
    branches = "".join(f"market = '{market}', {template.format(zone=repr(zone))}, " for market, zone in MARKET_ZONES)
    return f"multiIf({branches}{template.format(zone=repr(DEFAULT_MARKET_ZONE))})"


def market_day_start(column: str) -> str:
    """SQL for the start (as a UTC instant) of the market-local day holding ``column``, for the row's market."""
    return f"toDateTime64({in_market_zone(f'toUnixTimestamp(toStartOfDay({column}, {{zone}}))')}, 3, 'UTC')"


def market_month(column: str) -> str:
    """SQL for the market-local month (YYYYMM) holding ``column``: the series tables' partition, so that a
    market's month of data (how operators publish it) is one partition, not two UTC months."""
    return in_market_zone(f"toYYYYMM({column}, {{zone}})")


def market_year(column: str) -> str:
    """SQL for the market-local year holding ``column``: the aggregate tables' partition."""
    return in_market_zone(f"toYear({column}, {{zone}})")


def _price_buckets(bucket: str) -> str:
    """The price aggregates' SELECT for one bucket expression (the views compute the same columns)."""
    return (f"SELECT market, location, price_kind, {bucket} AS bucket, sum(price) AS price_sum, "  # noqa: S608 -- the bucket expression and the demo source name are fixed code
            "min(price) AS price_min, max(price) AS price_max, count() AS samples, countIf(price < 0) AS negatives, "
            f"countIf(source = '{DEMO_SOURCE}') AS demo_samples FROM prices FINAL {{where}} "
            "GROUP BY market, location, price_kind, bucket")


_PRICE_AGGS = (
    Aggregate("prices_hourly", _price_buckets("toStartOfHour(interval_start)"),
              group=("market", "location", "price_kind"),
              from_batch=(("price_sum", "sum", "price"), ("price_min", "min", "price"), ("price_max", "max", "price"),
                          ("samples", "count", "price"), ("negatives", "negatives", "price"),
                          ("demo_samples", "demo", "source"))),
    Aggregate("prices_daily", _price_buckets(market_day_start("interval_start")), widen_days=1),
)

_DEMAND_AGGS = (
    Aggregate(
        "demand_hourly",
        "SELECT market, location, toStartOfHour(interval_start) AS bucket, sum(demand_mw) AS demand_sum, "
        "count() AS samples FROM demand FINAL {where} GROUP BY market, location, bucket",
        group=("market", "location"),
        from_batch=(("demand_sum", "sum", "demand_mw"), ("samples", "count", "demand_mw")),
    ),
)

TABLES: dict[str, SeriesTable] = {
    t.name: t
    for t in (
        SeriesTable("prices", ("market", "location", "price_kind", "interval_minutes", "interval_start"),
                    ("price",), aggregates=_PRICE_AGGS, series_columns=("market", "location", "price_kind"),
                    required=("price",)),
        SeriesTable("demand", ("market", "location", "interval_minutes", "interval_start"), ("demand_mw",),
                    required=("demand_mw",), aggregates=_DEMAND_AGGS, series_columns=("market", "location")),
        SeriesTable("interconnector_flows", ("market", "interconnector", "interval_minutes", "interval_start"),
                    ("mw_flow", "metered_mw_flow", "mw_losses", "export_limit", "import_limit"),
                    required=("mw_flow",)),
        SeriesTable("intertie_schedules", ("market", "interconnector", "interval_minutes", "interval_start"),
                    ("import_mw", "export_mw")),
        SeriesTable("generation", ("market", "fuel", "unit", "interval_minutes", "interval_start"),
                    ("output_mw", "capability_mw", "forecast_mw", "available_mw")),
        SeriesTable("reservoirs", ("market", "location", "interval_minutes", "interval_start"),
                    ("stored_energy_mwmonth", "stored_energy_pct", "max_energy_mwmonth")),
        SeriesTable("system_totals", ("market", "location", "metric", "interval_minutes", "interval_start"),
                    ("value_mw",)),
        SeriesTable(
            "nodal_lmp", ("market", "market_run", "node", "interval_minutes", "interval_start"),
            ("lmp", "energy", "congestion", "loss"),
            aggregates=(
                Aggregate(
                    "nodal_lmp_hourly",
                    "SELECT market, node, market_run, toStartOfHour(interval_start) AS bucket, sum(lmp) AS lmp_sum, "
                    "sum(ifNull(energy, 0)) AS energy_sum, sum(ifNull(congestion, 0)) AS congestion_sum, "
                    "sum(ifNull(loss, 0)) AS loss_sum, count() AS samples FROM nodal_lmp FINAL {where} "
                    "GROUP BY market, node, market_run, bucket",
                    group=("market", "node", "market_run"),
                    from_batch=(("lmp_sum", "sum", "lmp"), ("energy_sum", "sum_or_zero", "energy"),
                                ("congestion_sum", "sum_or_zero", "congestion"), ("loss_sum", "sum_or_zero", "loss"),
                                ("samples", "count", "lmp")),
                ),
                # Per UTC day, what the published basis needs to rank a network from whole days (migration
                # 021 says when a day is whole); filled by a view on nodal_lmp, not from the batch: the writer
                # sums batches into hours only.
                Aggregate(
                    "nodal_lmp_daily",
                    "SELECT market, market_run, node, toStartOfDay(interval_start) AS bucket, sum(lmp) AS lmp_sum, "
                    "count() AS samples, countIf(toUnixTimestamp64Milli(interval_start) "
                    "% (60000 * greatest(interval_minutes, 1)) = 0) AS aligned, min(interval_minutes) AS minutes_min, "
                    "max(interval_minutes) AS minutes_max, max(interval_start) AS start_max FROM nodal_lmp FINAL "
                    "{where} GROUP BY market, market_run, node, bucket",
                ),
            ),
            series_columns=("market", "market_run", "node"),
            required=("lmp",),
        ),
        SeriesTable("node_metadata", ("market", "node"),
                    ("node_type", "zone", "voltage_kv", "latitude", "longitude", "node_name"), time_column=None,
                    optional={"node_name": ""}, text=("node_type", "zone", "node_name")),
        # The operators' forecasts as issued: the issue time is in the key, so a new run never replaces an
        # older one (migration 011).
        SeriesTable("operator_forecasts",
                    ("market", "location", "variable", "report", "issued_at", "interval_minutes", "interval_start"),
                    ("value",), required=("value",)),
        # Live trading signals (migration 014): each decision once; ``time`` is the close of the bar it was
        # decided at, and the bar's length is a value.
        SeriesTable("signals", ("market", "location", "other", "strategy", "params", "time"),
                    ("price_kind", "interval_minutes", "direction", "confidence", "price", "hedge"),
                    time_column="time", required=("direction", "price"), text=("price_kind",)),
    )
}
