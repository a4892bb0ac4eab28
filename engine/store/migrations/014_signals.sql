-- Live trading signals (issue 12): each change of a strategy's decision on a market's default location, as
-- decided at the close of a bar (time, UTC) from the prices then stored, with the parameters (JSON) it ran
-- with. One row per (market, location, second leg, strategy, parameters, time): recording the same decision
-- again replaces it with itself (ReplacingMergeTree on that key, batch_id as the version), so it is stored once;
-- engine/signals/record.py writes only decisions not yet stored, so a stored one is never rewritten. Realised
-- P&L is not stored: the live record computes it from the stored prices when read. Signals made on demo prices
-- carry source 'demo' and go with them when a market's real data arrives (engine/store/writer.py).
CREATE TABLE IF NOT EXISTS signals
(
    market           LowCardinality(String),
    location         LowCardinality(String),
    other            LowCardinality(String),
    strategy         LowCardinality(String),
    params           String,
    time             DateTime64(3, 'UTC'),
    price_kind       LowCardinality(String),
    interval_minutes UInt16,
    direction        Int8,
    confidence       Float64,
    price            Float64,
    hedge            Float64,
    source           LowCardinality(String),
    batch_id         UInt64,
    recorded_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(batch_id)
PARTITION BY toYear(time)
ORDER BY (market, location, other, strategy, params, time);
