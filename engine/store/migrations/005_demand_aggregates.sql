-- Hourly demand aggregate, so long-range pages draw demand from one row per hour (days are summed from it in
-- the query: one more materialized view per insert costs more than it saves).
CREATE TABLE IF NOT EXISTS demand_hourly
(
    market     LowCardinality(String),
    location   LowCardinality(String),
    bucket     DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    demand_sum SimpleAggregateFunction(sum, Float64),
    samples    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (market, location, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS demand_hourly_mv TO demand_hourly AS
SELECT market, location, toStartOfHour(interval_start) AS bucket, sum(demand_mw) AS demand_sum, count() AS samples
FROM demand
GROUP BY market, location, bucket;

-- Stores created before this migration: build the aggregates from what they hold.
INSERT INTO demand_hourly
SELECT market, location, toStartOfHour(interval_start) AS bucket, sum(demand_mw), count()
FROM demand FINAL GROUP BY market, location, bucket;
