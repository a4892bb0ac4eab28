-- What a connector's run wrote, table by table (the /metrics figure of rows ingested by connector and table):
-- the connector a load or backfill ran (empty for jobs that load nothing: training, forecasts, signals), and
-- the rows it wrote into each series table, summed over its batches. Runs recorded before this have neither.
ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS connector LowCardinality(String) DEFAULT '' AFTER market;
ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS rows_by_table Map(LowCardinality(String), UInt64) AFTER rows_written;
