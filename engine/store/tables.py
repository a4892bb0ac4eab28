"""The series tables a connector may write: their natural keys and value columns, and which aggregate
tables are derived from them (so a revision can rebuild exactly the buckets it touched)."""
from __future__ import annotations

from dataclasses import dataclass, field

#: The source of generated demo rows (real data of a market replaces them).
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class Aggregate:
    table: str
    select: str  # SELECT over the base table FINAL, by time bucket; the writer fills {where} and adds a HAVING
    # Days are fed from the hourly table: rebuilding hours also adds to the days around them, so a day
    # aggregate is rebuilt over a range this many days wider (and after the hours).
    widen_days: int = 0


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

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.values


def market_day_start(column: str) -> str:
    """SQL for the start (as a UTC instant) of the market-local day holding ``column``, for the row's market.
    ClickHouse needs a constant zone per call, so the zones of the markets we carry are spelled out; the
    daily views (migrations 001/006) say the same."""
    return ("toDateTime64(multiIf("
            f"market = 'NEM', toUnixTimestamp(toStartOfDay({column}, 'Etc/GMT-10')), "
            f"market = 'IESO', toUnixTimestamp(toStartOfDay({column}, 'Etc/GMT+5')), "
            f"market = 'BRAZIL', toUnixTimestamp(toStartOfDay({column}, 'America/Sao_Paulo')), "
            f"market = 'CAISO', toUnixTimestamp(toStartOfDay({column}, 'America/Los_Angeles')), "
            f"toUnixTimestamp(toStartOfDay({column}, 'America/New_York'))), 3, 'UTC')")


def _price_buckets(bucket: str) -> str:
    """The price aggregates' SELECT for one bucket expression (the views compute the same columns)."""
    return (f"SELECT market, location, price_kind, {bucket} AS bucket, sum(price) AS price_sum, "
            "min(price) AS price_min, max(price) AS price_max, count() AS samples, countIf(price < 0) AS negatives, "
            f"countIf(source = '{DEMO_SOURCE}') AS demo_samples FROM prices FINAL {{where}} "
            "GROUP BY market, location, price_kind, bucket")


_PRICE_AGGS = (
    Aggregate("prices_hourly", _price_buckets("toStartOfHour(interval_start)")),
    Aggregate("prices_daily", _price_buckets(market_day_start("interval_start")), widen_days=1),
)

_DEMAND_AGGS = (
    Aggregate(
        "demand_hourly",
        "SELECT market, location, toStartOfHour(interval_start) AS bucket, sum(demand_mw) AS demand_sum, "
        "count() AS samples FROM demand FINAL {where} GROUP BY market, location, bucket",
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
                ),
            ),
            series_columns=("market", "market_run", "node"),
            required=("lmp",),
        ),
        SeriesTable("node_metadata", ("market", "node"),
                    ("node_type", "zone", "voltage_kv", "latitude", "longitude", "node_name"), time_column=None,
                    optional={"node_name": ""}),
    )
}
