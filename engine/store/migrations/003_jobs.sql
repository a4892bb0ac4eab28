-- One row per job run (scheduled pull, backfill, training): what ran, over which range, and how it ended.
CREATE TABLE IF NOT EXISTS job_runs
(
    run_id        String,
    job           LowCardinality(String),
    market        LowCardinality(String),
    range_start   Nullable(DateTime64(3, 'UTC')),
    range_end     Nullable(DateTime64(3, 'UTC')),
    status        LowCardinality(String),
    rows_read     UInt64,
    rows_written  UInt64,
    rows_rejected UInt64,
    progress_done UInt32,
    progress_total UInt32,
    error         String,
    started_at    DateTime64(3, 'UTC'),
    finished_at   Nullable(DateTime64(3, 'UTC')),
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (run_id)
TTL toDateTime(started_at) + INTERVAL 1 YEAR;
