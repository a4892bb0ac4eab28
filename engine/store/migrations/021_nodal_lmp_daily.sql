-- Daily nodal price sums per series and UTC day, so the nodal page's published basis can rank a full network
-- over a month from one row per node and day instead of every hourly row (issue 14: 8.2 M rows joined to the
-- hub took 8.5 s at 11,000 nodes).
--
-- The basis ranks nodes by their mean difference to the hub over the hours both hold. From a day's sums that
-- is exact only on days where the node and the hub hold the same instants, once each: a day counts as whole
-- for a series when all its rows have one interval length (minutes_min = minutes_max) that divides the day,
-- every row starts on a multiple of that length (aligned) and there are as many rows as the day has
-- intervals (samples). The rows of one series and length have distinct starts, so these are then every
-- interval of the day. Other days are read from the base table (engine/lmp/published.py). The days are UTC
-- days: a day of hourly prices is always 24 hours, whatever the market's clock does. start_max is the day's
-- latest interval start: the basis window ends at the latest hour held, found here from the last day alone.
-- Ordered by day, then node: the basis reads every node over a month of days.
--
-- Unlike the hourly aggregates (migration 018), a view on nodal_lmp fills the days: the writer sums batches
-- into hours only. Every batch's rows reach the view in the statement that inserts them; a revision's or a
-- failed batch's days are rebuilt from the base table by the writer (Aggregate in engine/store/tables.py).

CREATE TABLE IF NOT EXISTS nodal_lmp_daily
(
    market      LowCardinality(String),
    market_run  LowCardinality(String),
    node        LowCardinality(String),
    bucket      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    lmp_sum     SimpleAggregateFunction(sum, Float64),
    samples     SimpleAggregateFunction(sum, UInt64),
    aligned     SimpleAggregateFunction(sum, UInt64),
    minutes_min SimpleAggregateFunction(min, UInt16),
    minutes_max SimpleAggregateFunction(max, UInt16),
    start_max   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY ${MARKET_YEAR(bucket)}
ORDER BY (market, market_run, bucket, node)
-- A network's day is 11,000 rows: in granules of 1,024 the hub's days are read from a granule per day, not
-- from every row of the month.
SETTINGS index_granularity = 1024;

-- Stores with nodal prices already: the days from the rows as they stand (emptied first, so that a migration
-- stopped after this insert fills them once when it runs again).
TRUNCATE TABLE nodal_lmp_daily;
INSERT INTO nodal_lmp_daily
SELECT market, market_run, node, toStartOfDay(interval_start) AS bucket, sum(lmp) AS lmp_sum, count() AS samples,
       countIf(toUnixTimestamp64Milli(interval_start) % (60000 * greatest(interval_minutes, 1)) = 0) AS aligned,
       min(interval_minutes) AS minutes_min, max(interval_minutes) AS minutes_max, max(interval_start) AS start_max
FROM nodal_lmp FINAL
GROUP BY market, market_run, node, bucket
SETTINGS max_partitions_per_insert_block = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS nodal_lmp_daily_mv TO nodal_lmp_daily AS
SELECT market, market_run, node, toStartOfDay(interval_start) AS bucket, sum(lmp) AS lmp_sum, count() AS samples,
       countIf(toUnixTimestamp64Milli(interval_start) % (60000 * greatest(interval_minutes, 1)) = 0) AS aligned,
       min(interval_minutes) AS minutes_min, max(interval_minutes) AS minutes_max, max(interval_start) AS start_max
FROM nodal_lmp
GROUP BY market, market_run, node, bucket;
