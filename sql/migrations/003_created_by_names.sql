-- created_by records who created a task: 'manual' (the command line), 'system', 'api' (an open
-- API), or the name of the caller's token (API_TOKENS). Names only: letters, digits, _.
ALTER TABLE data_pipeline_tasks DROP CONSTRAINT IF EXISTS chk_tasks_created_by;
ALTER TABLE data_pipeline_tasks ADD CONSTRAINT chk_tasks_created_by
    CHECK (created_by ~ '^[A-Za-z_][A-Za-z0-9_]{0,49}$');
