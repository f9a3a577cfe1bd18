-- Named queries on data_pipeline_tasks. Owned by data_pipeline/tasks/store.py.

-- name: insert_task
INSERT INTO data_pipeline_tasks
    (id, task_type, task_name, status, parameters, created_by, output_directory, db_name,
     business_context)
VALUES
    (%(id)s, %(task_type)s, %(task_name)s, 'pending', %(parameters)s, %(created_by)s,
     %(output_directory)s, %(db_name)s, %(business_context)s)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: get_task
SELECT * FROM data_pipeline_tasks WHERE id = %(id)s;

-- name: get_task_with_executions
-- The API's task detail in one statement: the task row (its run report as JSON text, passed
-- on without being decoded), plus a digest of its executions as a JSON array (oldest first;
-- timestamps as ISO 8601 text; without the step summaries, listed by list_executions).
SELECT t.id, t.task_type, t.task_name, t.status, t.parameters, t.result::text AS result_json,
       t.error_message, t.error_step, t.step_status, t.progress, t.current_step, t.created_at,
       t.started_at, t.completed_at, t.updated_at, t.created_by, t.output_directory, t.db_name,
       t.business_context, t.executor_pid, t.executor_host, t.last_heartbeat_at, t.queued_at,
       t.worker_name, t.lost_retries, COALESCE(
    (SELECT json_agg(json_build_object(
                'execution_id', e.execution_id, 'execution_step', e.execution_step,
                'status', e.status, 'started_at', e.started_at, 'completed_at', e.completed_at,
                'duration_seconds', e.duration_seconds, 'error_message', e.error_message,
                'run_number', e.run_number)
            ORDER BY e.started_at, e.id)
     FROM data_pipeline_task_executions e WHERE e.task_id = t.id), '[]'::json) AS executions,
       (SELECT max(r.run_number) FROM data_pipeline_task_runs r WHERE r.task_id = t.id)
           AS run_number
FROM data_pipeline_tasks t
WHERE t.id = %(id)s;

-- name: lock_active_tasks
-- Serialises every "start a run" so the concurrency limit holds under simultaneous requests.
SELECT pg_advisory_xact_lock(1346981189);

-- name: count_running_tasks
SELECT count(*) AS n, min(id) AS example FROM data_pipeline_tasks WHERE status = 'running';

-- name: start_run
-- A new run: the task becomes running at once (the executor claims it moments later).
UPDATE data_pipeline_tasks
SET status = 'running', started_at = now(), completed_at = NULL, progress = 0,
    current_step = NULL, error_message = NULL, error_step = NULL, result = NULL,
    executor_pid = NULL, executor_host = NULL, last_heartbeat_at = now(), updated_at = now(),
    step_status = step_status || %(step_status)s
WHERE id = %(id)s AND status <> 'running'
RETURNING *;

-- name: claim_run
-- The executor takes its run: only once, and only while the run is still wanted. The API may
-- have recorded the child's pid (record_launch) before the child claims: that is the same pid.
UPDATE data_pipeline_tasks
SET executor_pid = %(pid)s, executor_host = %(host)s, last_heartbeat_at = now(),
    updated_at = now()
WHERE id = %(id)s AND status = 'running'
  AND (executor_pid IS NULL OR (executor_pid = %(pid)s AND executor_host = %(host)s))
RETURNING *;

-- name: record_launch
-- The API records the pid of the executor it spawned (before or after the claim).
UPDATE data_pipeline_tasks
SET executor_pid = COALESCE(executor_pid, %(pid)s), executor_host = COALESCE(executor_host, %(host)s),
    updated_at = now()
WHERE id = %(id)s AND status = 'running'
RETURNING id;

-- name: heartbeat
UPDATE data_pipeline_tasks
SET last_heartbeat_at = now()
WHERE id = %(id)s AND status = 'running' AND executor_pid = %(pid)s
RETURNING id;

-- name: update_progress
-- Progress never goes backwards within a run.
UPDATE data_pipeline_tasks
SET progress = GREATEST(progress, %(progress)s),
    current_step = COALESCE(%(current_step)s, current_step),
    updated_at = now()
WHERE id = %(id)s AND status = 'running'
RETURNING progress;

-- name: set_step_status
UPDATE data_pipeline_tasks
SET step_status = jsonb_set(step_status, ARRAY[%(step)s], to_jsonb(%(status)s::text)),
    current_step = CASE WHEN %(status)s = 'running' THEN %(step)s ELSE current_step END,
    updated_at = now()
WHERE id = %(id)s AND (status = 'running' OR NOT %(guarded)s)
RETURNING step_status;

-- name: set_step_statuses
UPDATE data_pipeline_tasks
SET step_status = step_status || %(step_status)s, updated_at = now()
WHERE id = %(id)s
RETURNING step_status;

-- name: finish_run
-- Guarded: a run that was cancelled or failed meanwhile keeps that status. A failed or
-- cancelled run leaves no step "running" (e.g. one whose end a long outage kept unrecorded).
UPDATE data_pipeline_tasks
SET status = %(status)s, result = %(result)s, error_message = %(error_message)s,
    error_step = %(error_step)s, completed_at = now(), updated_at = now(),
    progress = CASE WHEN %(status)s IN ('completed', 'partial_completed') THEN 100 ELSE progress END,
    current_step = NULL,
    step_status = CASE WHEN %(status)s IN ('failed', 'cancelled')
        THEN COALESCE((SELECT jsonb_object_agg(k, CASE WHEN v = '"running"' THEN to_jsonb(%(status)s::text) ELSE v END)
                       FROM jsonb_each(step_status) AS e(k, v)), step_status)
        ELSE step_status END
WHERE id = %(id)s AND status = 'running'
  AND (%(pid)s::int IS NULL OR executor_pid = %(pid)s OR executor_pid IS NULL)
RETURNING *;

-- name: fail_running_task
-- Used by the monitor and by start-up failures: fails a run that is still running.
UPDATE data_pipeline_tasks
SET status = 'failed', error_message = %(error_message)s, completed_at = now(), updated_at = now(),
    error_step = COALESCE(current_step, error_step), current_step = NULL,
    step_status = (SELECT jsonb_object_agg(k, CASE WHEN v = '"running"' OR k = current_step THEN '"failed"'::jsonb ELSE v END)
                   FROM jsonb_each(step_status) AS e(k, v))
WHERE id = %(id)s AND status = 'running'
RETURNING *;

-- name: cancel_task
UPDATE data_pipeline_tasks
SET status = 'cancelled', completed_at = now(), updated_at = now(),
    error_message = COALESCE(%(error_message)s, error_message), current_step = NULL,
    step_status = (SELECT jsonb_object_agg(k, CASE WHEN v = '"running"' OR k = current_step THEN '"cancelled"'::jsonb ELSE v END)
                   FROM jsonb_each(step_status) AS e(k, v))
WHERE id = %(id)s AND status IN ('running', 'pending', 'queued')
RETURNING *;

-- name: update_task_parameters
UPDATE data_pipeline_tasks
SET parameters = %(parameters)s, updated_at = now()
WHERE id = %(id)s AND status <> 'running'
RETURNING *;

-- name: delete_task
DELETE FROM data_pipeline_tasks WHERE id = %(id)s RETURNING *;

-- name: active_tasks
SELECT * FROM data_pipeline_tasks WHERE status = 'running' ORDER BY started_at;

-- name: count_active_tasks
-- Running and queued tasks, with one of them to name (a running one first).
SELECT count(*) AS n,
       (array_agg(id ORDER BY status = 'running' DESC, queued_at, id))[1] AS example
FROM data_pipeline_tasks WHERE status IN ('running', 'queued');

-- name: count_queued_tasks
SELECT count(*) AS n FROM data_pipeline_tasks WHERE status = 'queued';

-- name: zombie_candidates
-- Running tasks whose executor has not been heard of for longer than the timeout.
SELECT * FROM data_pipeline_tasks
WHERE status = 'running'
  AND COALESCE(last_heartbeat_at, started_at, created_at)
      < now() - make_interval(secs => %(timeout_seconds)s)
ORDER BY id;

-- name: overdue_runs
SELECT * FROM data_pipeline_tasks
WHERE status = 'running' AND started_at < now() - make_interval(secs => %(max_seconds)s)
ORDER BY id;

-- name: apply_retention
SELECT task_id, output_directory FROM cleanup_old_data_pipeline_tasks(%(days)s);

-- name: apply_log_retention
SELECT cleanup_old_data_pipeline_logs(%(days)s) AS deleted;

-- name: task_creators
-- Everyone who created a task (the created_by filter accepts these names).
SELECT DISTINCT created_by FROM data_pipeline_tasks;

-- name: count_tasks_by_status
SELECT status, count(*) AS n FROM data_pipeline_tasks GROUP BY status;

-- name: get_idempotent_task
SELECT t.* FROM data_pipeline_idempotency_keys k JOIN data_pipeline_tasks t ON t.id = k.task_id
WHERE k.key = %(key)s;

-- name: insert_idempotency_key
INSERT INTO data_pipeline_idempotency_keys (key, task_id) VALUES (%(key)s, %(task_id)s)
ON CONFLICT (key) DO NOTHING
RETURNING task_id;

-- name: lock_idempotency_key
SELECT pg_advisory_xact_lock(hashtext(%(key)s));

-- name: list_tasks
-- {columns}, {order_by} and {direction} are filled from whitelists by the store; each filter
-- is NULL (any) or an array of accepted values (?status=completed&status=failed: either).
SELECT {columns}, count(*) OVER () AS total_count
FROM data_pipeline_tasks
WHERE (%(status)s::text[] IS NULL OR status = ANY(%(status)s::text[]))
  AND (%(created_by)s::text[] IS NULL OR created_by = ANY(%(created_by)s::text[]))
  AND (%(db_name)s::text[] IS NULL OR db_name = ANY(%(db_name)s::text[]))
  AND (%(task_type)s::text[] IS NULL OR task_type = ANY(%(task_type)s::text[]))
  AND (%(q)s::text IS NULL OR task_name ILIKE %(q)s ESCAPE '\' OR business_context ILIKE %(q)s ESCAPE '\'
       OR id ILIKE %(q)s ESCAPE '\')
ORDER BY {order_by} {direction}, id {direction}
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_tasks
SELECT count(*) AS total
FROM data_pipeline_tasks
WHERE (%(status)s::text[] IS NULL OR status = ANY(%(status)s::text[]))
  AND (%(created_by)s::text[] IS NULL OR created_by = ANY(%(created_by)s::text[]))
  AND (%(db_name)s::text[] IS NULL OR db_name = ANY(%(db_name)s::text[]))
  AND (%(task_type)s::text[] IS NULL OR task_type = ANY(%(task_type)s::text[]))
  AND (%(q)s::text IS NULL OR task_name ILIKE %(q)s ESCAPE '\' OR business_context ILIKE %(q)s ESCAPE '\'
       OR id ILIKE %(q)s ESCAPE '\');

-- name: queue_run
-- A run waits its turn: queued (in order of queued_at) with the run it asks for.
UPDATE data_pipeline_tasks
SET status = 'queued', queued_at = now(), queue_request = %(request)s, queue_job_id = NULL,
    worker_name = NULL, error_message = NULL, error_step = NULL, completed_at = NULL,
    updated_at = now()
WHERE id = %(id)s AND status NOT IN ('running', 'queued')
RETURNING *;

-- name: set_queue_job
UPDATE data_pipeline_tasks SET queue_job_id = %(job_id)s
WHERE id = %(id)s AND status = 'queued'
RETURNING id;

-- name: queue_head
-- The first queued task (by queued_at) whose job a worker holds: the next to get a slot.
SELECT t.id
FROM data_pipeline_tasks t
JOIN procrastinate_jobs j ON j.id = t.queue_job_id AND j.status = 'doing'
WHERE t.status = 'queued'
ORDER BY t.queued_at, t.id
LIMIT 1;

-- name: claim_queued_run
-- A worker takes a queued run: it becomes running, its steps go back to pending.
UPDATE data_pipeline_tasks
SET status = 'running', started_at = now(), completed_at = NULL, progress = 0,
    current_step = NULL, error_message = NULL, error_step = NULL, result = NULL,
    executor_pid = NULL, executor_host = %(host)s, worker_name = %(worker)s,
    last_heartbeat_at = now(), updated_at = now(),
    step_status = step_status || %(step_status)s
WHERE id = %(id)s AND status = 'queued'
RETURNING *;

-- name: queue_positions
-- Every queued task with its place in the queue (1 = next).
SELECT id, row_number() OVER (ORDER BY queued_at, id) AS position
FROM data_pipeline_tasks
WHERE status = 'queued';

-- name: queued_without_live_job
-- Queued tasks whose job is gone or finished (a lost defer, a worker lost while holding the
-- job): they get a new job.
SELECT t.*
FROM data_pipeline_tasks t
LEFT JOIN procrastinate_jobs j ON j.id = t.queue_job_id
WHERE t.status = 'queued' AND t.queued_at < now() - make_interval(secs => %(grace_seconds)s)
  AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing'))
ORDER BY t.queued_at, t.id;

-- name: requeue_lost_run
-- A run lost with its worker is queued again (once per RETRY_LOST_RUNS).
UPDATE data_pipeline_tasks
SET status = 'queued', queued_at = now(), queue_job_id = NULL, worker_name = NULL,
    executor_pid = NULL, executor_host = NULL, current_step = NULL,
    lost_retries = lost_retries + 1, error_message = %(error_message)s, updated_at = now(),
    step_status = (SELECT jsonb_object_agg(k, CASE WHEN v = '"running"' THEN '"pending"'::jsonb ELSE v END)
                   FROM jsonb_each(step_status) AS e(k, v))
WHERE id = %(id)s AND status = 'running' AND lost_retries < %(max_retries)s
  AND queue_request IS NOT NULL
RETURNING *;

-- name: fail_stalled_queue_jobs
-- Jobs held by workers that stopped beating (killed, host lost): failed, so that their locks
-- and their place at the head of the queue go; their tasks are settled by the monitor.
SELECT job.id, job.task_name, procrastinate_finish_job_v1(job.id, 'failed', false)
FROM procrastinate_jobs job
LEFT JOIN procrastinate_workers w ON w.id = job.worker_id
WHERE job.status = 'doing'
  AND (job.worker_id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %(seconds)s));
