-- The hourly and daily price aggregates also count negative prices and demo rows, so a page can show a
-- long range's statistics (and whether demo data fed it) from one row per hour or day, never the raw rows.
ALTER TABLE prices_hourly ADD COLUMN IF NOT EXISTS negatives SimpleAggregateFunction(sum, UInt64) DEFAULT 0;
ALTER TABLE prices_hourly ADD COLUMN IF NOT EXISTS demo_samples SimpleAggregateFunction(sum, UInt64) DEFAULT 0;
ALTER TABLE prices_daily ADD COLUMN IF NOT EXISTS negatives SimpleAggregateFunction(sum, UInt64) DEFAULT 0;
ALTER TABLE prices_daily ADD COLUMN IF NOT EXISTS demo_samples SimpleAggregateFunction(sum, UInt64) DEFAULT 0;

DROP VIEW IF EXISTS prices_daily_mv;
DROP VIEW IF EXISTS prices_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS prices_hourly_mv TO prices_hourly AS
SELECT market, location, price_kind, toStartOfHour(interval_start) AS bucket,
       sum(price) AS price_sum, min(price) AS price_min, max(price) AS price_max, count() AS samples,
       countIf(price < 0) AS negatives, countIf(source = 'demo') AS demo_samples
FROM prices
GROUP BY market, location, price_kind, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS prices_daily_mv TO prices_daily AS
SELECT market, location, price_kind, day AS bucket,
       sum(price_sum) AS price_sum, min(price_min) AS price_min, max(price_max) AS price_max, sum(samples) AS samples,
       sum(negatives) AS negatives, sum(demo_samples) AS demo_samples
FROM (SELECT *, toDateTime64(multiIf(
           market = 'NEM', toUnixTimestamp(toStartOfDay(bucket, 'Etc/GMT-10')),
           market = 'IESO', toUnixTimestamp(toStartOfDay(bucket, 'Etc/GMT+5')),
           market = 'BRAZIL', toUnixTimestamp(toStartOfDay(bucket, 'America/Sao_Paulo')),
           market = 'CAISO', toUnixTimestamp(toStartOfDay(bucket, 'America/Los_Angeles')),
           toUnixTimestamp(toStartOfDay(bucket, 'America/New_York'))), 3, 'UTC') AS day FROM prices_hourly)
GROUP BY market, location, price_kind, day;

-- Stores created before this migration: rebuild both aggregates with the new counts (the days follow the
-- hours through the view above).
TRUNCATE TABLE prices_daily;
TRUNCATE TABLE prices_hourly;
INSERT INTO prices_hourly (market, location, price_kind, bucket, price_sum, price_min, price_max, samples, negatives,
                           demo_samples)
SELECT market, location, price_kind, toStartOfHour(interval_start) AS bucket, sum(price), min(price), max(price),
       count(), countIf(price < 0), countIf(source = 'demo')
FROM prices FINAL GROUP BY market, location, price_kind, bucket;
