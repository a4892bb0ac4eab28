-- Core market series: prices, demand, interconnector flows, market metadata, and the
-- hourly/daily/latest price aggregates the pages read instead of raw rows.
-- ${DB} is replaced by the store's database name (dictionary sources need it spelled out).

-- Every series table is a ReplacingMergeTree keyed on its natural key with batch_id as the version,
-- so re-loading a file leaves one row per key (queries read FINAL) and a revision wins over the original.
CREATE TABLE IF NOT EXISTS prices
(
    market           LowCardinality(String),
    location         LowCardinality(String),
    price_kind       LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    price            Float64 CODEC(Gorilla, ZSTD(1)),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1)),
    INDEX idx_price price TYPE minmax GRANULARITY 4,
    INDEX idx_source source TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, location, price_kind, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS demand
(
    market           LowCardinality(String),
    location         LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    demand_mw        Float64 CODEC(Gorilla, ZSTD(1)),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1)),
    INDEX idx_source source TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, location, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS interconnector_flows
(
    market           LowCardinality(String),
    interconnector   LowCardinality(String),
    interval_start   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    interval_minutes UInt16 CODEC(T64, ZSTD(1)),
    mw_flow          Float64 CODEC(Gorilla, ZSTD(1)),
    metered_mw_flow  Nullable(Float64),
    mw_losses        Nullable(Float64),
    export_limit     Nullable(Float64),
    import_limit     Nullable(Float64),
    source           LowCardinality(String),
    batch_id         UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (market, interconnector, interval_minutes, interval_start)
TTL toDateTime(interval_start) + INTERVAL 30 YEAR;

CREATE TABLE IF NOT EXISTS markets
(
    market         String,
    name           String,
    timezone       String,
    timezone_label String,
    currency       String,
    expected_delay_minutes UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY market;

INSERT INTO markets VALUES
    ('NEM', 'AEMO National Electricity Market', 'Etc/GMT-10', 'NEM time (UTC+10)', 'AUD', 15),
    ('IESO', 'IESO Ontario', 'Etc/GMT+5', 'Eastern Standard Time (UTC-5)', 'CAD', 120),
    ('BRAZIL', 'Brazil ONS/CCEE', 'America/Sao_Paulo', 'Brasilia time', 'BRL', 1440),
    ('PJM', 'PJM Interconnection', 'America/New_York', 'Eastern Prevailing Time', 'USD', 1440),
    ('ISONE', 'ISO New England', 'America/New_York', 'Eastern Prevailing Time', 'USD', 1440),
    ('CAISO', 'California ISO', 'America/Los_Angeles', 'Pacific Prevailing Time', 'USD', 1440);

CREATE DICTIONARY IF NOT EXISTS market_dict
(
    market String,
    name String,
    timezone String,
    timezone_label String,
    currency String,
    expected_delay_minutes UInt32
)
PRIMARY KEY market
SOURCE(CLICKHOUSE(DB '${DB}' TABLE 'markets'))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 60 MAX 300);

-- Hourly and daily price aggregates. Fed by materialized views on insert; the writer only inserts rows
-- that are new or changed, and rebuilds the affected buckets when a row is revised, so re-loads never
-- double count.
CREATE TABLE IF NOT EXISTS prices_hourly
(
    market     LowCardinality(String),
    location   LowCardinality(String),
    price_kind LowCardinality(String),
    bucket     DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    price_sum  SimpleAggregateFunction(sum, Float64),
    price_min  SimpleAggregateFunction(min, Float64),
    price_max  SimpleAggregateFunction(max, Float64),
    samples    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (market, location, price_kind, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS prices_hourly_mv TO prices_hourly AS
SELECT market, location, price_kind, toStartOfHour(interval_start) AS bucket,
       sum(price) AS price_sum, min(price) AS price_min, max(price) AS price_max, count() AS samples
FROM prices
GROUP BY market, location, price_kind, bucket;

-- Daily buckets start at midnight in the market's own zone (a UTC day would split a NEM day at 10:00).
-- ClickHouse needs a constant zone per call, so the zones of the markets we carry are spelled out here.
CREATE TABLE IF NOT EXISTS prices_daily
(
    market     LowCardinality(String),
    location   LowCardinality(String),
    price_kind LowCardinality(String),
    bucket     DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    price_sum  SimpleAggregateFunction(sum, Float64),
    price_min  SimpleAggregateFunction(min, Float64),
    price_max  SimpleAggregateFunction(max, Float64),
    samples    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (market, location, price_kind, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS prices_daily_mv TO prices_daily AS
SELECT market, location, price_kind,
       toDateTime64(multiIf(
           market = 'NEM', toUnixTimestamp(toStartOfDay(interval_start, 'Etc/GMT-10')),
           market = 'IESO', toUnixTimestamp(toStartOfDay(interval_start, 'Etc/GMT+5')),
           market = 'BRAZIL', toUnixTimestamp(toStartOfDay(interval_start, 'America/Sao_Paulo')),
           market = 'CAISO', toUnixTimestamp(toStartOfDay(interval_start, 'America/Los_Angeles')),
           toUnixTimestamp(toStartOfDay(interval_start, 'America/New_York'))), 3, 'UTC') AS bucket,
       sum(price) AS price_sum, min(price) AS price_min, max(price) AS price_max, count() AS samples
FROM prices
GROUP BY market, location, price_kind, bucket;

CREATE TABLE IF NOT EXISTS latest_prices
(
    market      LowCardinality(String),
    location    LowCardinality(String),
    price_kind  LowCardinality(String),
    latest      AggregateFunction(argMax, Tuple(Float64, UInt16), DateTime64(3, 'UTC')),
    latest_start SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    loaded_batch SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (market, location, price_kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS latest_prices_mv TO latest_prices AS
SELECT market, location, price_kind,
       argMaxState((price, interval_minutes), interval_start) AS latest,
       max(interval_start) AS latest_start,
       max(batch_id) AS loaded_batch
FROM prices
GROUP BY market, location, price_kind;
