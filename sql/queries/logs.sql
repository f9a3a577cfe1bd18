-- Named queries on data_pipeline_task_logs.

-- name: insert_logs
-- Used with psycopg2.extras.execute_values; the VALUES list is filled in batches.
INSERT INTO data_pipeline_task_logs
    (task_id, execution_id, log_level, message, step_name, module_name, function_name,
     timestamp, extra_data)
VALUES %s;

-- name: query_logs
-- {direction} is ASC or DESC, from a whitelist.
SELECT id, task_id, execution_id, log_level, message, step_name, module_name, function_name,
       timestamp, extra_data
FROM data_pipeline_task_logs
WHERE task_id = %(task_id)s
  AND log_level = ANY(%(levels)s)
  AND (%(step)s::text IS NULL OR step_name = %(step)s)
  AND (%(q)s::text IS NULL OR message ILIKE %(q)s ESCAPE '\')
  AND (%(since)s::timestamptz IS NULL OR timestamp >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR timestamp <= %(until)s)
  AND (%(after_id)s::bigint IS NULL OR
       (CASE WHEN %(descending)s THEN id < %(after_id)s ELSE id > %(after_id)s END))
ORDER BY id {direction}
LIMIT %(limit)s;

-- name: count_logs
SELECT count(*) AS total FROM data_pipeline_task_logs WHERE task_id = %(task_id)s;

-- name: existing_execution_ids
SELECT execution_id FROM data_pipeline_task_executions WHERE execution_id = ANY(%(ids)s);
