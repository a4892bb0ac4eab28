-- The newest stored price of every series, as a view computed when read. (Migration 007 dropped the
-- materialized form: a view and a part of its own on every price insert, for a few rows.)
-- Each series' last market day comes from the daily aggregate, so only the raw rows of those days are
-- read: the time bound prunes every older partition, and the tuple keeps each series to its own last day.
-- When two interval lengths start at the same instant, the finer one is the latest price.
CREATE VIEW IF NOT EXISTS latest_prices AS
SELECT market, location, price_kind,
       max(start) AS interval_start,
       argMax(minutes, (start, -toInt32(minutes))) AS interval_minutes,
       argMax(value, (start, -toInt32(minutes))) AS price,
       argMax(origin, (start, -toInt32(minutes))) AS source,
       argMax(batch, (start, -toInt32(minutes))) AS batch_id
FROM (
    SELECT market, location, price_kind, interval_start AS start, interval_minutes AS minutes, price AS value,
           source AS origin, batch_id AS batch
    FROM prices FINAL
    WHERE interval_start >= (SELECT min(last_day) FROM (SELECT max(bucket) AS last_day FROM prices_daily
                                                        GROUP BY market, location, price_kind))
      AND (market, location, price_kind, ${MARKET_DAY_START(interval_start)}) IN
          (SELECT market, location, price_kind, max(bucket) FROM prices_daily GROUP BY market, location, price_kind)
)
GROUP BY market, location, price_kind;
