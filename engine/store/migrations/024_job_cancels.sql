-- An admin's request that a running backfill stop (engine/jobs.py request_cancel). The run reads it between its
-- periods in whichever process runs it: with several web workers, the cancel may reach a worker other than the
-- one running the backfill, whose own event it cannot set.
CREATE TABLE IF NOT EXISTS job_cancels
(
    run_id       String,
    requested_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY run_id
TTL toDateTime(requested_at) + INTERVAL 30 DAY;
