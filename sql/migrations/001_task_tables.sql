-- The four task tables of the design, completed (SPEC §4.1).

CREATE TABLE IF NOT EXISTS data_pipeline_tasks (
    id                 VARCHAR(32) PRIMARY KEY,
    task_type          VARCHAR(50)  NOT NULL DEFAULT 'data_workflow',
    task_name          VARCHAR(200),
    status             VARCHAR(20)  NOT NULL DEFAULT 'pending',
    parameters         JSONB        NOT NULL DEFAULT '{}'::jsonb,
    result             JSONB,
    error_message      TEXT,
    error_step         VARCHAR(50),
    step_status        JSONB        NOT NULL DEFAULT '{"ddl_generation": "pending",
        "qa_generation": "pending", "sql_validation": "pending", "training_load": "pending"}'::jsonb,
    progress           SMALLINT     NOT NULL DEFAULT 0,
    current_step       VARCHAR(50),
    created_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    started_at         TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    created_by         VARCHAR(50)  NOT NULL DEFAULT 'api',
    output_directory   TEXT,
    db_name            VARCHAR(100),
    business_context   TEXT,
    executor_pid       INTEGER,
    executor_host      VARCHAR(255),
    last_heartbeat_at  TIMESTAMPTZ,
    CONSTRAINT chk_tasks_status CHECK (status IN
        ('pending', 'running', 'completed', 'partial_completed', 'failed', 'cancelled')),
    CONSTRAINT chk_tasks_progress CHECK (progress BETWEEN 0 AND 100),
    CONSTRAINT chk_tasks_created_by CHECK (created_by IN ('api', 'manual', 'system')),
    CONSTRAINT chk_tasks_id CHECK (id ~ '^(task|manual)_[0-9]{8}_[0-9]{6}(_[a-z0-9]{1,8})?$')
);

CREATE INDEX IF NOT EXISTS idx_tasks_status ON data_pipeline_tasks (status);
CREATE INDEX IF NOT EXISTS idx_tasks_created_at ON data_pipeline_tasks (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_db_name ON data_pipeline_tasks (db_name);
CREATE INDEX IF NOT EXISTS idx_tasks_created_by ON data_pipeline_tasks (created_by);
CREATE INDEX IF NOT EXISTS idx_tasks_running_heartbeat
    ON data_pipeline_tasks (last_heartbeat_at) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS data_pipeline_task_executions (
    id                SERIAL PRIMARY KEY,
    task_id           VARCHAR(32)  NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    execution_step    VARCHAR(50)  NOT NULL,
    status            VARCHAR(20)  NOT NULL DEFAULT 'running',
    started_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    completed_at      TIMESTAMPTZ,
    error_message     TEXT,
    execution_result  JSONB,
    execution_id      VARCHAR(100) NOT NULL UNIQUE,
    force_executed    BOOLEAN      NOT NULL DEFAULT FALSE,
    files_cleaned     BOOLEAN      NOT NULL DEFAULT FALSE,
    duration_seconds  NUMERIC(12, 3),
    CONSTRAINT chk_exec_status CHECK (status IN
        ('running', 'completed', 'failed', 'cancelled', 'skipped')),
    CONSTRAINT chk_exec_step CHECK (execution_step IN
        ('ddl_generation', 'qa_generation', 'sql_validation', 'training_load', 'complete'))
);

CREATE INDEX IF NOT EXISTS idx_executions_task_id ON data_pipeline_task_executions (task_id);
CREATE INDEX IF NOT EXISTS idx_executions_step ON data_pipeline_task_executions (execution_step);
CREATE INDEX IF NOT EXISTS idx_executions_status ON data_pipeline_task_executions (status);
CREATE INDEX IF NOT EXISTS idx_executions_started_at
    ON data_pipeline_task_executions (started_at DESC);

CREATE TABLE IF NOT EXISTS data_pipeline_task_logs (
    id             BIGSERIAL PRIMARY KEY,
    task_id        VARCHAR(32)  NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    execution_id   VARCHAR(100) REFERENCES data_pipeline_task_executions (execution_id)
                       ON DELETE SET NULL,
    log_level      VARCHAR(10)  NOT NULL,
    message        TEXT         NOT NULL,
    step_name      VARCHAR(50),
    module_name    VARCHAR(100),
    function_name  VARCHAR(100),
    timestamp      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    extra_data     JSONB        NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT chk_logs_level CHECK (log_level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'))
);

-- "logs of a task after id N" is the hot path (cursor pagination and the SSE tail).
CREATE INDEX IF NOT EXISTS idx_logs_task_id_id ON data_pipeline_task_logs (task_id, id);
CREATE INDEX IF NOT EXISTS idx_logs_execution_id ON data_pipeline_task_logs (execution_id);
CREATE INDEX IF NOT EXISTS idx_logs_timestamp ON data_pipeline_task_logs (timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_logs_level ON data_pipeline_task_logs (log_level);
CREATE INDEX IF NOT EXISTS idx_logs_step ON data_pipeline_task_logs (step_name);

CREATE TABLE IF NOT EXISTS data_pipeline_task_outputs (
    id               SERIAL PRIMARY KEY,
    task_id          VARCHAR(32)  NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    execution_id     VARCHAR(100) REFERENCES data_pipeline_task_executions (execution_id)
                         ON DELETE SET NULL,
    step_name        VARCHAR(50),
    file_type        VARCHAR(50)  NOT NULL,
    file_name        VARCHAR(255) NOT NULL,
    file_path        TEXT         NOT NULL,
    file_size        BIGINT       NOT NULL DEFAULT 0,
    content_hash     VARCHAR(64),
    description      TEXT,
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    modified_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    is_primary       BOOLEAN      NOT NULL DEFAULT FALSE,
    is_downloadable  BOOLEAN      NOT NULL DEFAULT TRUE,
    CONSTRAINT uq_outputs_task_path UNIQUE (task_id, file_path),
    CONSTRAINT chk_outputs_type CHECK (file_type IN
        ('ddl', 'md', 'json', 'log', 'txt', 'report', 'csv', 'other'))
);

CREATE INDEX IF NOT EXISTS idx_outputs_task_id ON data_pipeline_task_outputs (task_id);
CREATE INDEX IF NOT EXISTS idx_outputs_execution_id ON data_pipeline_task_outputs (execution_id);
CREATE INDEX IF NOT EXISTS idx_outputs_file_type ON data_pipeline_task_outputs (file_type);
CREATE INDEX IF NOT EXISTS idx_outputs_primary
    ON data_pipeline_task_outputs (is_primary) WHERE is_primary = TRUE;

-- Idempotency keys of POST /tasks: the same key returns the same task.
CREATE TABLE IF NOT EXISTS data_pipeline_idempotency_keys (
    key         VARCHAR(200) PRIMARY KEY,
    task_id     VARCHAR(32)  NOT NULL REFERENCES data_pipeline_tasks (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
