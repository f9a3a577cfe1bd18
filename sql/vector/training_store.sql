-- The training-data store, in the layout of langchain_postgres' PGVector, which Vanna's
-- PG_VectorStore (vanna.pgvector) reads: collections "sql", "ddl", "documentation";
-- embedding rows keyed by a VARCHAR id ending in -sql / -ddl / -doc, with the id repeated in
-- cmetadata->>'id' (Vanna lists and deletes training data through it).
-- Our ids are derived from the content, so a load adds only what is not there yet.
-- cmetadata: {"id", "task_id" (first loader), "task_ids" (every task that loaded the row),
--             "source_file", "db_name", "collection", ...}.
-- {dimension} is filled in by the code (a vector column needs a fixed size to be compared).

-- name: create_store
-- (the vector extension is created, or its absence reported, by the code first)
CREATE TABLE IF NOT EXISTS langchain_pg_collection (
    uuid UUID PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    cmetadata JSON
);
CREATE TABLE IF NOT EXISTS langchain_pg_embedding (
    id VARCHAR PRIMARY KEY,
    collection_id UUID REFERENCES langchain_pg_collection (uuid) ON DELETE CASCADE,
    embedding VECTOR({dimension}),
    document VARCHAR,
    cmetadata JSONB
);
CREATE INDEX IF NOT EXISTS ix_cmetadata_gin
    ON langchain_pg_embedding USING gin (cmetadata jsonb_path_ops);
CREATE INDEX IF NOT EXISTS ix_langchain_pg_embedding_task_id
    ON langchain_pg_embedding ((cmetadata ->> 'task_id'));
CREATE INDEX IF NOT EXISTS ix_langchain_pg_embedding_collection_id
    ON langchain_pg_embedding (collection_id);

-- name: embedding_columns
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atttypmod AS typmod
  FROM pg_attribute a
 WHERE a.attrelid = to_regclass('langchain_pg_embedding') AND a.attnum > 0 AND NOT a.attisdropped;

-- name: sample_dimension
SELECT vector_dims(embedding) AS dims FROM langchain_pg_embedding
 WHERE embedding IS NOT NULL LIMIT 1;

-- name: ensure_collection
INSERT INTO langchain_pg_collection (uuid, name, cmetadata)
SELECT %(uuid)s::uuid, %(name)s, '{}'::json
 WHERE NOT EXISTS (SELECT 1 FROM langchain_pg_collection WHERE name = %(name)s);

-- name: collection_ids
SELECT name, uuid::text AS uuid FROM langchain_pg_collection;

-- name: create_stage
-- Each batch is copied (binary COPY) into this per-session table, then inserted from it.
CREATE TEMP TABLE IF NOT EXISTS training_stage (
    id VARCHAR, collection_id UUID, embedding VECTOR, document VARCHAR, cmetadata JSONB
) ON COMMIT DELETE ROWS;

-- name: copy_stage
COPY pg_temp.training_stage (id, collection_id, embedding, document, cmetadata)
FROM STDIN (FORMAT binary);

-- name: insert_embeddings
-- Rows already present gain this task in task_ids. RETURNING gives the inserted rows
-- (inserted = true) and the rows newly shared with this task.
INSERT INTO langchain_pg_embedding AS e (id, collection_id, embedding, document, cmetadata)
SELECT id, collection_id, embedding, document, cmetadata FROM pg_temp.training_stage
ON CONFLICT (id) DO UPDATE
   SET cmetadata = jsonb_set(
           COALESCE(e.cmetadata, '{}'::jsonb), '{task_ids}',
           COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb)
               || jsonb_build_array(EXCLUDED.cmetadata ->> 'task_id'))
 WHERE EXCLUDED.cmetadata ->> 'task_id' IS NOT NULL
   AND NOT COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb) ? (EXCLUDED.cmetadata ->> 'task_id')
RETURNING e.id, (e.xmax = 0) AS inserted;

-- name: counts
SELECT c.name, count(e.id) AS n
  FROM langchain_pg_collection c
  LEFT JOIN langchain_pg_embedding e ON e.collection_id = c.uuid
 GROUP BY c.name;

-- name: counts_for_task
SELECT c.name, count(*) AS n
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE e.cmetadata ->> 'task_id' = %(task_id)s OR e.cmetadata @> %(task_filter)s::jsonb
 GROUP BY c.name;

-- name: purge_task_delete
-- Rows no other task loaded.
DELETE FROM langchain_pg_embedding e USING langchain_pg_collection c
 WHERE c.uuid = e.collection_id
   AND (e.cmetadata ->> 'task_id' = %(task_id)s OR e.cmetadata @> %(task_filter)s::jsonb)
   AND COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb) - %(task_id)s::text = '[]'::jsonb
RETURNING c.name;

-- name: purge_task_release
-- Rows other tasks loaded too stay, without this task.
UPDATE langchain_pg_embedding e
   SET cmetadata = jsonb_set(
           jsonb_set(e.cmetadata, '{task_ids}', (e.cmetadata -> 'task_ids') - %(task_id)s::text),
           '{task_id}',
           CASE WHEN e.cmetadata ->> 'task_id' = %(task_id)s
                THEN ((e.cmetadata -> 'task_ids') - %(task_id)s::text) -> 0
                ELSE COALESCE(e.cmetadata -> 'task_id', 'null'::jsonb) END)
 WHERE e.cmetadata @> %(task_filter)s::jsonb;

-- name: search
SELECT e.id, c.name AS collection, e.document, e.cmetadata,
       (e.embedding <=> %(vector)s::vector) AS distance
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE (%(collection)s::text IS NULL OR c.name = %(collection)s)
   AND (%(task_id)s::text IS NULL OR e.cmetadata ->> 'task_id' = %(task_id)s
        OR e.cmetadata @> %(task_filter)s::jsonb)
 ORDER BY distance
 LIMIT %(k)s;

-- name: backup_collections
COPY (SELECT uuid, name, cmetadata FROM langchain_pg_collection ORDER BY name)
  TO STDOUT WITH (FORMAT csv, HEADER);

-- name: backup_embeddings
COPY (SELECT id, collection_id, embedding, document, cmetadata
        FROM langchain_pg_embedding ORDER BY collection_id, id)
  TO STDOUT WITH (FORMAT csv, HEADER);

-- name: backup_embeddings_for_task
-- A task's own rows only (every row it loaded, shared ones included): a task never exports
-- the vectors of others.
COPY (SELECT id, collection_id, embedding, document, cmetadata
        FROM langchain_pg_embedding
       WHERE cmetadata ->> 'task_id' = %(task_id)s OR cmetadata @> %(task_filter)s::jsonb
       ORDER BY collection_id, id)
  TO STDOUT WITH (FORMAT csv, HEADER);
