-- Our price forecasts, kept as issued (issue 11): one row per run in forecast_runs, and one row per target
-- hour in forecast_values with the point and the 99 quantiles (levels 0.01 ... 0.99, engine.forecast.base).
-- Rows are only ever added: a new run is new rows, and engine/forecast/runs.py refuses a run with the issue
-- time of a stored one (same market, location and model), so an issued forecast is never rewritten. A run's
-- values are written before its row, so a reader (who finds runs through forecast_runs) never sees half a run.
CREATE TABLE IF NOT EXISTS forecast_runs
(
    run_id           String,
    market           LowCardinality(String),
    location         LowCardinality(String),
    model            LowCardinality(String),
    model_version    String,
    price_kind       LowCardinality(String),
    issued_at        DateTime64(3, 'UTC'),
    first_target     DateTime64(3, 'UTC'),
    horizon_hours    UInt16,
    interval_minutes UInt16,
    settings         String,
    saved_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (market, location, model, issued_at);

CREATE TABLE IF NOT EXISTS forecast_values
(
    run_id       String,
    market       LowCardinality(String),
    location     LowCardinality(String),
    model        LowCardinality(String),
    issued_at    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    target_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    point        Float64,
    quantiles    Array(Float64) CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYear(issued_at)
ORDER BY (market, location, model, issued_at, target_start);
