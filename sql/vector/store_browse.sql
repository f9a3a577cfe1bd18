-- The training store as the console and the API show it (data_pipeline/training_load/browse.py):
-- counts, a filtered and paged list, one document, deletion by id, an export.
-- Filters (NULL = any): %(collection)s, %(task_id)s with %(task_filter)s (the rows a task
-- loaded: its id in cmetadata.task_ids, or the first loader's task_id), %(db_name)s and
-- %(pattern)s (an ILIKE pattern on the document, its wildcards escaped by the code with "\").
-- Order: collection, source database, source file, id (the same for the list and the export).

-- name: browse_databases
-- Rows per source database and collection (db_name NULL: rows loaded without one).
SELECT e.cmetadata ->> 'db_name' AS db_name, c.name AS collection, count(*) AS n
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 GROUP BY 1, 2
 ORDER BY 1 NULLS LAST, 2;

-- name: browse_tasks
-- Rows per task that loaded them (a row loaded by two tasks counts for both).
SELECT t.task_id, count(*) AS n
  FROM langchain_pg_embedding e
 CROSS JOIN LATERAL jsonb_array_elements_text(
           CASE WHEN jsonb_typeof(e.cmetadata -> 'task_ids') = 'array'
                 AND jsonb_array_length(e.cmetadata -> 'task_ids') > 0
                THEN e.cmetadata -> 'task_ids'
                WHEN e.cmetadata ->> 'task_id' IS NOT NULL
                THEN jsonb_build_array(e.cmetadata ->> 'task_id')
                ELSE '[]'::jsonb END) AS t(task_id)
 GROUP BY t.task_id
 ORDER BY t.task_id DESC;

-- name: browse_embedders
-- Rows per embedder recorded with their vectors (NULL: loaded before embedders were recorded).
SELECT e.cmetadata ->> 'embedder' AS embedder, count(*) AS n
  FROM langchain_pg_embedding e
 GROUP BY 1
 ORDER BY n DESC, 1;

-- name: browse_count
SELECT count(*) AS n
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE (%(collection)s::text IS NULL OR c.name = %(collection)s)
   AND (%(task_id)s::text IS NULL OR e.cmetadata ->> 'task_id' = %(task_id)s
        OR e.cmetadata @> %(task_filter)s::jsonb)
   AND (%(db_name)s::text IS NULL
        OR e.cmetadata @> jsonb_build_object('db_name', %(db_name)s::text))
   AND (%(pattern)s::text IS NULL OR e.document ILIKE %(pattern)s ESCAPE '\');

-- name: browse_documents
-- A page (LIMIT NULL: every row, as the export reads them through a server-side cursor).
SELECT e.id, c.name AS collection, e.document, e.cmetadata
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE (%(collection)s::text IS NULL OR c.name = %(collection)s)
   AND (%(task_id)s::text IS NULL OR e.cmetadata ->> 'task_id' = %(task_id)s
        OR e.cmetadata @> %(task_filter)s::jsonb)
   AND (%(db_name)s::text IS NULL
        OR e.cmetadata @> jsonb_build_object('db_name', %(db_name)s::text))
   AND (%(pattern)s::text IS NULL OR e.document ILIKE %(pattern)s ESCAPE '\')
 ORDER BY c.name, e.cmetadata ->> 'db_name', e.cmetadata ->> 'source_file', e.id
 LIMIT %(limit)s OFFSET %(offset)s;

-- name: browse_document
SELECT e.id, c.name AS collection, e.document, e.cmetadata
  FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id
 WHERE e.id = %(id)s;

-- name: browse_delete
DELETE FROM langchain_pg_embedding e
 WHERE e.id = ANY(%(ids)s::text[])
RETURNING e.id;
