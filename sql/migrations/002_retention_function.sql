-- Retention: delete finished tasks older than N days (rows cascade to executions, logs,
-- outputs). Returns the ids and folders removed so the caller can delete the folders too.
CREATE OR REPLACE FUNCTION cleanup_old_data_pipeline_tasks(days INTEGER)
RETURNS TABLE (task_id VARCHAR, output_directory TEXT)
LANGUAGE sql AS $$
    DELETE FROM data_pipeline_tasks t
    WHERE t.status IN ('completed', 'partial_completed', 'failed', 'cancelled')
      AND COALESCE(t.completed_at, t.updated_at, t.created_at) < now() - make_interval(days => days)
    RETURNING t.id, t.output_directory;
$$;

-- Log retention on its own: drop log rows of finished tasks older than N days.
CREATE OR REPLACE FUNCTION cleanup_old_data_pipeline_logs(days INTEGER)
RETURNS BIGINT
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM data_pipeline_task_logs l
        USING data_pipeline_tasks t
        WHERE l.task_id = t.id
          AND t.status IN ('completed', 'partial_completed', 'failed', 'cancelled')
          AND l.timestamp < now() - make_interval(days => days)
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;
