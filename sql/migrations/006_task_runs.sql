-- Every run of a task is kept: what was asked (mode, steps, start step, who), the parameters
-- it ran with, when it was queued, started and ended, its outcome and report. A task row only
-- holds its latest run; re-running a step used to overwrite the earlier run's times and figures.
--
-- The rows are kept by triggers on the task and execution tables, so every path that starts or
-- ends a run (API, workers, the command line, the monitor, a cancel) records it in the same
-- transaction as the status change itself.

CREATE TABLE IF NOT EXISTS data_pipeline_task_runs (
    task_id        VARCHAR(32)  NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    run_number     INTEGER      NOT NULL,
    status         VARCHAR(20)  NOT NULL,
    request        JSONB,
    parameters     JSONB        NOT NULL DEFAULT '{}'::jsonb,
    requested_by   VARCHAR(50),
    queued_at      TIMESTAMPTZ,
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    step_status    JSONB,
    result         JSONB,
    error_message  TEXT,
    error_step     VARCHAR(50),
    worker_name    VARCHAR(255),
    executor_host  VARCHAR(255),
    PRIMARY KEY (task_id, run_number),
    CONSTRAINT chk_runs_status CHECK (status IN
        ('queued', 'running', 'completed', 'partial_completed', 'failed', 'cancelled'))
);

ALTER TABLE data_pipeline_task_executions ADD COLUMN IF NOT EXISTS run_number INTEGER;
CREATE INDEX IF NOT EXISTS idx_executions_task_run
    ON data_pipeline_task_executions (task_id, run_number);

CREATE OR REPLACE FUNCTION data_pipeline_track_run() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    was_active boolean := TG_OP = 'UPDATE' AND OLD.status IN ('queued', 'running');
    is_active  boolean := NEW.status IN ('queued', 'running');
BEGIN
    IF is_active AND NOT was_active THEN
        -- A new run: queued, or started at once (the command line, tests).
        INSERT INTO data_pipeline_task_runs
            (task_id, run_number, status, request, parameters, requested_by, queued_at,
             started_at, step_status, worker_name, executor_host)
        SELECT NEW.id, COALESCE(max(r.run_number), 0) + 1, NEW.status,
               CASE WHEN NEW.status = 'queued' THEN NEW.queue_request END,
               NEW.parameters,
               COALESCE(CASE WHEN NEW.status = 'queued'
                             THEN NEW.queue_request ->> 'requested_by' END, NEW.created_by),
               CASE WHEN NEW.status = 'queued' THEN COALESCE(NEW.queued_at, now()) END,
               CASE WHEN NEW.status = 'running' THEN COALESCE(NEW.started_at, now()) END,
               NEW.step_status, NEW.worker_name, NEW.executor_host
        FROM data_pipeline_task_runs r WHERE r.task_id = NEW.id;
    ELSIF is_active AND was_active THEN
        -- Queued -> running (a worker took it), running -> queued (lost, queued again), or a
        -- change while it runs: the open run follows.
        UPDATE data_pipeline_task_runs r
        SET status = NEW.status,
            started_at = CASE WHEN NEW.status = 'running'
                              THEN COALESCE(r.started_at, NEW.started_at, now())
                              ELSE r.started_at END,
            step_status = NEW.step_status,
            worker_name = COALESCE(NEW.worker_name, r.worker_name),
            executor_host = COALESCE(NEW.executor_host, r.executor_host)
        WHERE r.task_id = NEW.id AND r.finished_at IS NULL
          AND r.run_number = (SELECT max(run_number) FROM data_pipeline_task_runs
                              WHERE task_id = NEW.id)
          AND (r.status IS DISTINCT FROM NEW.status
               OR r.step_status IS DISTINCT FROM NEW.step_status
               OR r.worker_name IS DISTINCT FROM NEW.worker_name
               OR r.executor_host IS DISTINCT FROM NEW.executor_host);
    ELSIF was_active AND NOT is_active THEN
        -- The run ended (completed, partial, failed, cancelled), whoever ended it.
        UPDATE data_pipeline_task_runs r
        SET status = CASE WHEN NEW.status = 'pending' THEN 'cancelled' ELSE NEW.status END,
            finished_at = COALESCE(NEW.completed_at, now()),
            step_status = NEW.step_status,
            result = NEW.result,
            error_message = NEW.error_message,
            error_step = NEW.error_step
        WHERE r.task_id = NEW.id AND r.finished_at IS NULL;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS trg_tasks_track_run ON data_pipeline_tasks;
CREATE TRIGGER trg_tasks_track_run
    AFTER INSERT OR UPDATE OF status, step_status, worker_name, executor_host
    ON data_pipeline_tasks
    FOR EACH ROW EXECUTE FUNCTION data_pipeline_track_run();

CREATE OR REPLACE FUNCTION data_pipeline_execution_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.run_number IS NULL THEN
        SELECT max(run_number) INTO NEW.run_number
        FROM data_pipeline_task_runs WHERE task_id = NEW.task_id;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS trg_executions_run ON data_pipeline_task_executions;
CREATE TRIGGER trg_executions_run
    BEFORE INSERT ON data_pipeline_task_executions
    FOR EACH ROW EXECUTE FUNCTION data_pipeline_execution_run();

-- Tasks that ran before this migration: their latest run becomes run 1.
INSERT INTO data_pipeline_task_runs
    (task_id, run_number, status, parameters, requested_by, queued_at, started_at, finished_at,
     step_status, result, error_message, error_step, worker_name, executor_host)
SELECT id, 1, status, parameters, created_by, queued_at, started_at, completed_at, step_status,
       result, error_message, error_step, worker_name, executor_host
FROM data_pipeline_tasks
WHERE status <> 'pending' AND (started_at IS NOT NULL OR queued_at IS NOT NULL)
ON CONFLICT DO NOTHING;
UPDATE data_pipeline_task_executions e SET run_number = 1
WHERE e.run_number IS NULL
  AND EXISTS (SELECT 1 FROM data_pipeline_task_runs r WHERE r.task_id = e.task_id);
