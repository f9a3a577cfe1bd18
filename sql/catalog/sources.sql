-- What the API and the repair step read from a business database's catalog (read only).
-- Loaded by core.sql_queries; %% stands for a literal % (psycopg2 parameters).

-- name: source_tables
-- Tables the connecting role may read, outside system schemas; partitions are listed through
-- their parent. reltuples is -1 before the first ANALYZE: no estimate then.
SELECT n.nspname AS schema_name, c.relname AS name, c.relkind AS kind,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimated_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname
LIMIT %(limit)s

-- name: source_table_names
-- Every relation's schema and name outside system schemas (closest-name suggestions).
SELECT n.nspname AS schema_name, c.relname AS table_name
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
ORDER BY 1, 2
LIMIT %(limit)s

-- name: source_identity
-- Which server and database a source session landed in, and whether it can see the task
-- tables: a source must never be the pipeline's own database.
SELECT CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
            THEN (SELECT system_identifier FROM pg_control_system()) END AS system_identifier,
       current_database() AS database,
       EXISTS (SELECT 1 FROM pg_class c
               WHERE c.relname IN ('data_pipeline_tasks', 'data_pipeline_task_logs')
                 AND c.relkind IN ('r', 'p')) AS sees_task_tables

-- name: source_functions
-- Every function the source knows, with its volatility (for the validator's allow-list).
SELECT p.proname, n.nspname, p.provolatile::text
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace

-- name: source_operators
-- Every operator, with the volatility of the function it calls.
SELECT o.oprname, n.nspname, p.provolatile::text
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode

-- name: source_search_path
-- The schemas an unqualified name is looked up in (pg_catalog first when not listed).
SELECT current_schemas(true)
