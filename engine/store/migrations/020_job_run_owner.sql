-- The process running a job (host:pid:start token), so that a process starting up fails only the runs left
-- 'running' by a process that is gone, not those a live worker beside it is running (several web workers
-- share one store on a ClickHouse server). Runs written before this have an empty owner.
ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS owner String DEFAULT '' AFTER error;
