-- Every run of a task (data_pipeline_task_runs, kept by triggers: migration 006).

-- name: list_runs
-- Newest first, without the reports (get_run has them); with each run's step executions.
SELECT r.task_id, r.run_number, r.status, r.request, r.parameters, r.requested_by,
       r.queued_at, r.started_at, r.finished_at, r.step_status, r.error_message, r.error_step,
       r.worker_name, r.executor_host,
       (r.result -> 'warnings') AS warnings,
       COALESCE((SELECT json_agg(json_build_object(
                    'execution_id', e.execution_id, 'step', e.execution_step,
                    'status', e.status, 'started_at', e.started_at,
                    'completed_at', e.completed_at, 'duration', e.duration_seconds,
                    'error_message', e.error_message) ORDER BY e.started_at, e.id)
                 FROM data_pipeline_task_executions e
                 WHERE e.task_id = r.task_id AND e.run_number = r.run_number), '[]'::json)
           AS executions
FROM data_pipeline_task_runs r
WHERE r.task_id = %(task_id)s
ORDER BY r.run_number DESC
LIMIT %(limit)s;

-- name: get_run
SELECT r.*,
       COALESCE((SELECT json_agg(json_build_object(
                    'execution_id', e.execution_id, 'step', e.execution_step,
                    'status', e.status, 'started_at', e.started_at,
                    'completed_at', e.completed_at, 'duration', e.duration_seconds,
                    'error_message', e.error_message, 'result', e.execution_result)
                    ORDER BY e.started_at, e.id)
                 FROM data_pipeline_task_executions e
                 WHERE e.task_id = r.task_id AND e.run_number = r.run_number), '[]'::json)
           AS executions
FROM data_pipeline_task_runs r
WHERE r.task_id = %(task_id)s AND r.run_number = %(run_number)s;
