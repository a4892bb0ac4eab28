-- Series of the other connectors: generation by unit/fuel, intertie schedules, reservoirs, system totals,
-- nodal LMPs with their components and node metadata (with a dictionary the maps read coordinates from).

CREATE TABLE IF NOT EXISTS generation
(
    market           LowCardinality(String),
    unit             LowCardinality(String),
    fuel             LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    output_mw        Nullable(Float64),
    capability_mw    Nullable(Float64),
    forecast_mw      Nullable(Float64),
    available_mw     Nullable(Float64),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, fuel, unit, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS intertie_schedules
(
    market           LowCardinality(String),
    interconnector   LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    import_mw        Nullable(Float64),
    export_mw        Nullable(Float64),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, interconnector, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS reservoirs
(
    market                 LowCardinality(String),
    location               LowCardinality(String),
    interval_start         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes       UInt16 CODEC(T64, ZSTD(1)),
    stored_energy_mwmonth  Nullable(Float64),
    stored_energy_pct      Nullable(Float64),
    max_energy_mwmonth     Nullable(Float64),
    source                 LowCardinality(String),
    batch_id               UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYear(interval_start)
ORDER BY (market, location, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 50 YEAR;

CREATE TABLE IF NOT EXISTS system_totals
(
    market           LowCardinality(String),
    location         LowCardinality(String),
    metric           LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    value_mw         Nullable(Float64),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, location, metric, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS nodal_lmp
(
    market           LowCardinality(String),
    node             LowCardinality(String),
    market_run       LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    lmp              Float64 CODEC(Gorilla, ZSTD(1)),
    energy           Nullable(Float64),
    congestion       Nullable(Float64),
    loss             Nullable(Float64),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1)),
    INDEX idx_node node TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, market_run, node, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 10 YEAR;

CREATE TABLE IF NOT EXISTS nodal_lmp_hourly
(
    market         LowCardinality(String),
    node           LowCardinality(String),
    market_run     LowCardinality(String),
    bucket         DateTime64(3, 'UTC'),
    lmp_sum        SimpleAggregateFunction(sum, Float64),
    energy_sum     SimpleAggregateFunction(sum, Float64),
    congestion_sum SimpleAggregateFunction(sum, Float64),
    loss_sum       SimpleAggregateFunction(sum, Float64),
    samples        SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (market, market_run, node, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS nodal_lmp_hourly_mv TO nodal_lmp_hourly AS
SELECT market, node, market_run, toStartOfHour(interval_start) AS bucket,
       sum(lmp) AS lmp_sum, sum(ifNull(energy, 0)) AS energy_sum,
       sum(ifNull(congestion, 0)) AS congestion_sum, sum(ifNull(loss, 0)) AS loss_sum, count() AS samples
FROM nodal_lmp
GROUP BY market, node, market_run, bucket;

CREATE TABLE IF NOT EXISTS node_metadata
(
    market     LowCardinality(String),
    node       String,
    node_type  LowCardinality(String),
    zone       LowCardinality(String),
    voltage_kv Nullable(Float64),
    latitude   Nullable(Float64),
    longitude  Nullable(Float64),
    source     LowCardinality(String),
    batch_id   UInt64
)
ENGINE = ReplacingMergeTree(batch_id)
ORDER BY (market, node);

CREATE DICTIONARY IF NOT EXISTS node_dict
(
    market String,
    node String,
    node_type String,
    zone String,
    latitude Nullable(Float64),
    longitude Nullable(Float64)
)
PRIMARY KEY market, node
SOURCE(CLICKHOUSE(QUERY 'SELECT market, node, node_type, zone, latitude, longitude FROM ${DB}.node_metadata FINAL'))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 60 MAX 300);
