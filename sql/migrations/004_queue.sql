-- Tasks wait their turn: status 'queued' (in order of queued_at) until a worker claims a slot.
-- queue_request is the run asked for (execution mode, step, force, clean, steps to reset);
-- queue_job_id the procrastinate job that carries it to a worker; worker_name the worker that
-- runs it; lost_retries how often a run lost with its worker was queued again.
ALTER TABLE data_pipeline_tasks DROP CONSTRAINT IF EXISTS chk_tasks_status;
ALTER TABLE data_pipeline_tasks ADD CONSTRAINT chk_tasks_status CHECK (status IN
    ('pending', 'queued', 'running', 'completed', 'partial_completed', 'failed', 'cancelled'));
ALTER TABLE data_pipeline_tasks
    ADD COLUMN IF NOT EXISTS queued_at     TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS queue_request JSONB,
    ADD COLUMN IF NOT EXISTS queue_job_id  BIGINT,
    ADD COLUMN IF NOT EXISTS worker_name   VARCHAR(255),
    ADD COLUMN IF NOT EXISTS lost_retries  SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_tasks_queue
    ON data_pipeline_tasks (queued_at, id) WHERE status = 'queued';

-- Where each step ran: the executor's host and pid, and the worker that started it.
ALTER TABLE data_pipeline_task_executions
    ADD COLUMN IF NOT EXISTS executor_host VARCHAR(255),
    ADD COLUMN IF NOT EXISTS executor_pid  INTEGER,
    ADD COLUMN IF NOT EXISTS worker_name   VARCHAR(255);
