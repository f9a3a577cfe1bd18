-- Named queries on data_pipeline_task_executions.

-- name: insert_execution
-- Where the step runs (host, pid, worker) is copied from the task's current run.
INSERT INTO data_pipeline_task_executions
    (task_id, execution_step, status, execution_id, force_executed, files_cleaned,
     executor_host, executor_pid, worker_name)
SELECT %(task_id)s, %(step)s, %(status)s, %(execution_id)s, %(force)s, %(files_cleaned)s,
       t.executor_host, t.executor_pid, t.worker_name
FROM (SELECT 1) one LEFT JOIN data_pipeline_tasks t ON t.id = %(task_id)s
RETURNING *;

-- name: complete_execution
UPDATE data_pipeline_task_executions
SET status = %(status)s, completed_at = now(), error_message = %(error_message)s,
    execution_result = %(result)s,
    duration_seconds = EXTRACT(EPOCH FROM (now() - started_at))
WHERE execution_id = %(execution_id)s AND status = 'running'
RETURNING *;

-- name: close_running_executions
-- When a run ends abnormally (cancel, monitor), its open executions end with it.
UPDATE data_pipeline_task_executions
SET status = %(status)s, completed_at = now(), error_message = COALESCE(error_message, %(error_message)s),
    duration_seconds = EXTRACT(EPOCH FROM (now() - started_at))
WHERE task_id = %(task_id)s AND status = 'running'
RETURNING execution_id;

-- name: list_executions
SELECT * FROM data_pipeline_task_executions WHERE task_id = %(task_id)s
ORDER BY started_at, id;

-- name: get_execution
SELECT * FROM data_pipeline_task_executions WHERE execution_id = %(execution_id)s;

-- name: step_durations
SELECT execution_step, status, count(*) AS n, sum(duration_seconds) AS total_seconds
FROM data_pipeline_task_executions
WHERE completed_at IS NOT NULL
GROUP BY execution_step, status;
