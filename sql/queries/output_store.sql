-- Named queries of the output store (data_pipeline/tasks/output_store.py): the catalog
-- data_pipeline_output_files, and data_pipeline_output_blobs (the database backend's content).

-- name: lock_stored_output
-- One writer per file at a time (two-key advisory locks do not meet the migrations' lock).
SELECT pg_advisory_xact_lock(1330664532, hashtext(%(task_id)s || '/' || %(file_path)s));

-- name: get_stored_output
SELECT * FROM data_pipeline_output_files
WHERE task_id = %(task_id)s AND file_path = %(file_path)s AND location = %(location)s;

-- name: list_stored_outputs
SELECT * FROM data_pipeline_output_files
WHERE task_id = %(task_id)s AND location = %(location)s
ORDER BY file_path;

-- name: insert_stored_output
INSERT INTO data_pipeline_output_files
    (task_id, file_path, location, sha256, file_size, chunk_count, modified_at)
VALUES (%(task_id)s, %(file_path)s, %(location)s, %(sha256)s, %(file_size)s, %(chunk_count)s,
        %(modified_at)s)
RETURNING *;

-- name: delete_stored_outputs
-- Chunks go with their rows (ON DELETE CASCADE).
DELETE FROM data_pipeline_output_files
WHERE task_id = %(task_id)s AND file_path = ANY(%(paths)s)
RETURNING file_path, location;

-- name: delete_task_stored_outputs
DELETE FROM data_pipeline_output_files WHERE task_id = %(task_id)s
RETURNING file_path, location;

-- name: insert_output_chunk
INSERT INTO data_pipeline_output_blobs (task_id, file_path, chunk_no, data)
VALUES (%(task_id)s, %(file_path)s, %(chunk_no)s, %(data)s);

-- name: read_output_chunk
-- Only a chunk of the version being read: a file copied again meanwhile yields no row.
SELECT b.data
FROM data_pipeline_output_blobs b
JOIN data_pipeline_output_files f USING (task_id, file_path)
WHERE b.task_id = %(task_id)s AND b.file_path = %(file_path)s AND b.chunk_no = %(chunk_no)s
  AND f.location = 'database' AND f.sha256 = %(sha256)s;
