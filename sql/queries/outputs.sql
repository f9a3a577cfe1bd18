-- Named queries on data_pipeline_task_outputs.

-- name: upsert_output
INSERT INTO data_pipeline_task_outputs
    (task_id, execution_id, step_name, file_type, file_name, file_path, file_size, content_hash,
     description, is_primary, is_downloadable, created_at, modified_at)
VALUES (%(task_id)s, %(execution_id)s, %(step_name)s, %(file_type)s, %(file_name)s,
        %(file_path)s, %(file_size)s, %(content_hash)s, %(description)s, %(is_primary)s,
        %(is_downloadable)s, %(modified_at)s, %(modified_at)s)
ON CONFLICT (task_id, file_path) DO UPDATE SET
    execution_id = COALESCE(EXCLUDED.execution_id, data_pipeline_task_outputs.execution_id),
    step_name = COALESCE(EXCLUDED.step_name, data_pipeline_task_outputs.step_name),
    file_type = EXCLUDED.file_type, file_name = EXCLUDED.file_name,
    file_size = EXCLUDED.file_size, content_hash = EXCLUDED.content_hash,
    description = COALESCE(EXCLUDED.description, data_pipeline_task_outputs.description),
    is_primary = EXCLUDED.is_primary, is_downloadable = EXCLUDED.is_downloadable,
    modified_at = EXCLUDED.modified_at
RETURNING *;

-- name: list_outputs
SELECT * FROM data_pipeline_task_outputs WHERE task_id = %(task_id)s ORDER BY file_path;

-- name: delete_outputs_by_paths
DELETE FROM data_pipeline_task_outputs WHERE task_id = %(task_id)s AND file_path = ANY(%(paths)s)
RETURNING file_path;
