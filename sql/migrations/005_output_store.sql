-- The output store (data_pipeline/tasks/output_store.py): copies of every task's output files
-- that every machine can read, whatever machine wrote them.
--
-- data_pipeline_output_files is the catalog, whichever backend holds the content: one row per
-- stored file, with the sha256 and size of the bytes stored, the file's modification time
-- when it was copied, and where the content is ('database', or 's3://bucket/prefix' without
-- credentials: a file stored elsewhere than the configured store counts as not stored).
-- data_pipeline_output_blobs holds the content of the 'database' backend in chunks of at most
-- 1 MiB, so that a file is written and read a chunk at a time, never whole in memory.
CREATE TABLE IF NOT EXISTS data_pipeline_output_files (
    task_id      VARCHAR(32) NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    file_path    TEXT        NOT NULL,
    location     TEXT        NOT NULL,
    sha256       CHAR(64)    NOT NULL,
    file_size    BIGINT      NOT NULL,
    chunk_count  INTEGER     NOT NULL DEFAULT 0,
    modified_at  TIMESTAMPTZ NOT NULL,
    stored_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task_id, file_path)
);

-- Chunks go with their catalog row (deleted with it), and both with the task. The foreign key
-- is checked at commit, so a file's chunks are written before its catalog row.
CREATE TABLE IF NOT EXISTS data_pipeline_output_blobs (
    task_id    VARCHAR(32) NOT NULL,
    file_path  TEXT        NOT NULL,
    chunk_no   INTEGER     NOT NULL,
    data       BYTEA       NOT NULL,
    PRIMARY KEY (task_id, file_path, chunk_no),
    CONSTRAINT fk_output_blobs_file FOREIGN KEY (task_id, file_path)
        REFERENCES data_pipeline_output_files (task_id, file_path)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
