-- The training-data store, in the layout of langchain_postgres' PGVector, which Vanna's
-- PG_VectorStore (vanna.pgvector) reads: collections "sql", "ddl", "documentation";
-- embedding rows keyed by a VARCHAR id ending in -sql / -ddl / -doc, with the id repeated in
-- cmetadata->>'id' (Vanna lists and deletes training data through it).
-- Our ids are derived from the content, so a load adds only what is not there yet.
-- cmetadata: {"id", "task_id" (first loader), "task_ids" (every task that loaded the row),
--             "source_file", "db_name", "collection", "embedder" (who made the vector),
--             "embedding_key" (hash of embedder + text embedded: a changed one is re-embedded),
--             "pair_key" (sql rows: a hash of the normalised question and SQL), ...}.
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
-- A row already present (its vector was out of date, or another load inserted it meanwhile)
-- gets the new vector and its embedder, and this task joins its task_ids. RETURNING gives
-- the inserted rows (inserted = true) and the updated ones.
INSERT INTO langchain_pg_embedding AS e (id, collection_id, embedding, document, cmetadata)
SELECT id, collection_id, embedding, document, cmetadata FROM pg_temp.training_stage
ON CONFLICT (id) DO UPDATE
   SET embedding = EXCLUDED.embedding,
       cmetadata = COALESCE(e.cmetadata, '{}'::jsonb)
           || jsonb_build_object('embedder', EXCLUDED.cmetadata -> 'embedder',
                                 'embedding_key', EXCLUDED.cmetadata -> 'embedding_key')
           || CASE WHEN EXCLUDED.cmetadata ->> 'task_id' IS NULL
                     OR COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb)
                            ? (EXCLUDED.cmetadata ->> 'task_id')
                   THEN '{}'::jsonb
                   ELSE jsonb_build_object('task_ids',
                            COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb)
                                || jsonb_build_array(EXCLUDED.cmetadata ->> 'task_id')) END
RETURNING e.id, (e.xmax = 0) AS inserted;

-- name: any_row
SELECT true AS found FROM langchain_pg_embedding LIMIT 1;

-- name: present_rows
-- Which of a load's ids are stored already, and the embedding_key of their vectors.
SELECT id, cmetadata ->> 'embedding_key' AS embedding_key
  FROM langchain_pg_embedding WHERE id = ANY(%(ids)s::text[]);

-- name: pair_rows
-- Stored pairs that may equal one of the load's (same pair_key), and every pair without a
-- pair_key (Vanna's own, or loaded by an earlier version): their key is computed from the
-- document. "ours" marks rows a load of this pipeline wrote (they have task_ids).
SELECT e.id, e.cmetadata ->> 'pair_key' AS pair_key,
       CASE WHEN e.cmetadata ? 'pair_key' THEN NULL ELSE e.document END AS document,
       COALESCE(e.cmetadata ? 'task_ids', false) AS ours
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE c.name = 'sql'
   AND (e.cmetadata ->> 'pair_key' = ANY(%(keys)s::text[])
        OR NOT COALESCE(e.cmetadata ? 'pair_key', false));

-- name: file_rows
-- The stored DDL and documentation of a database (the code keeps the load's files): the
-- rows of a table's earlier version are replaced by the new one.
SELECT e.id, c.name AS collection, e.cmetadata ->> 'source_file' AS source_file,
       COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb) AS task_ids
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE c.name IN ('ddl', 'documentation')
   AND e.cmetadata @> jsonb_build_object('db_name', %(db_name)s::text);

-- name: other_embedders
-- Rows whose vectors another embedder made (rows written before embedders were recorded
-- are not counted: unknown). The code leaves out those a load embeds again or replaces.
SELECT e.id, e.cmetadata ->> 'embedder' AS embedder
  FROM langchain_pg_embedding e
 WHERE e.cmetadata ? 'embedder'
   AND e.cmetadata ->> 'embedder' <> %(embedder)s;

-- name: claim_rows
-- Rows present already (loaded by this pipeline) that this task loads too.
UPDATE langchain_pg_embedding e
   SET cmetadata = jsonb_set(e.cmetadata, '{task_ids}',
                             (e.cmetadata -> 'task_ids') || jsonb_build_array(%(task_id)s::text))
 WHERE e.id = ANY(%(ids)s)
   AND jsonb_typeof(e.cmetadata -> 'task_ids') = 'array'
   AND NOT (e.cmetadata -> 'task_ids') ? %(task_id)s;

-- name: add_owners
-- The tasks that loaded a table's earlier version own its new rows too (first seen first).
UPDATE langchain_pg_embedding e
   SET cmetadata = jsonb_set(e.cmetadata, '{task_ids}', (
           SELECT COALESCE(jsonb_agg(t ORDER BY first_seen), '[]'::jsonb)
             FROM (SELECT t, min(n) AS first_seen
                     FROM jsonb_array_elements_text(
                              COALESCE(e.cmetadata -> 'task_ids', '[]'::jsonb)
                                  || %(owners)s::jsonb) WITH ORDINALITY AS a(t, n)
                    GROUP BY t) AS merged))
 WHERE e.id = ANY(%(ids)s) AND jsonb_typeof(e.cmetadata -> 'task_ids') = 'array';

-- name: delete_rows
DELETE FROM langchain_pg_embedding e USING langchain_pg_collection c
 WHERE c.uuid = e.collection_id AND e.id = ANY(%(ids)s)
RETURNING c.name;

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
   AND (%(db_name)s::text IS NULL
        OR e.cmetadata @> jsonb_build_object('db_name', %(db_name)s::text))
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
