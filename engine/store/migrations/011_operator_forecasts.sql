-- The operators' own forecasts, kept as issued (issue 11): AEMO PredispatchIS, P5MIN and the operational
-- demand forecast, IESO's VGForecastSummary. One row per series, run and interval; the run's issue time is in
-- the sort key, so a new run is new rows and never replaces an older one. Re-loading the same run replaces
-- its own rows only (ReplacingMergeTree on the full key, batch_id as the version).
--
-- variable: price | demand | demand_poe10 | demand_poe50 | demand_poe90 | wind | solar | embedded_wind |
-- embedded_solar; report: predispatch | p5min | demand_hh | vgforecast (ingest/nem/forecasts.py and
-- ingest/ieso_forecasts.py say what each is and which issue time it carries). Partitioned by the market-local
-- month of the issue, so a month of runs is one part whatever their horizon.
CREATE TABLE IF NOT EXISTS operator_forecasts
(
    market           LowCardinality(String),
    location         LowCardinality(String),
    variable         LowCardinality(String),
    report           LowCardinality(String),
    issued_at        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    interval_start   DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    value            Float64 CODEC(ZSTD(1)),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY ${MARKET_MONTH(issued_at)}
ORDER BY (market, location, variable, report, issued_at, interval_minutes, interval_start)
TTL toDateTime(issued_at) + INTERVAL 30 YEAR;
