-- Catalog queries of step 1 (ddl_generation), run against the *business* database.
-- Each takes arrays covering every listed table, so the number of catalog queries does not
-- grow with the number of tables. Only pg_catalog is read (information_schema is a stack of
-- views that is slow on big catalogs). Used by data_pipeline/ddl_generation/metadata_reader.py.

-- name: server_info
-- Also who is reading: a source role should be neither a superuser nor able to write.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS version_num,
       current_database() AS db_name,
       current_setting('block_size')::int AS block_size,
       current_user::text AS role_name,
       (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) AS is_superuser;

-- name: relations
-- Listed names are matched case-insensitively here; the reader prefers the exact match and
-- accepts a case-insensitive one only when it is unique. A listed partition stands for its
-- partitioned root table (listed_* name what was matched). Partitioned tables get the sum of
-- their leaf partitions' statistics (their own reltuples/size say little) and the list of
-- their leaf partitions.
WITH wanted AS (
    SELECT w.schema_name, w.table_name, w.ord
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY
         AS w(schema_name, table_name, ord)
),
matched AS (
    SELECT w.ord, c.oid AS listed_oid, n.nspname AS listed_schema, c.relname AS listed_name,
           CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END AS oid
    FROM wanted w
    JOIN pg_namespace n ON lower(n.nspname) = lower(w.schema_name)
    JOIN pg_class c ON c.relnamespace = n.oid AND lower(c.relname) = lower(w.table_name)
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
),
found AS (
    SELECT m.ord, m.listed_oid, m.listed_schema, m.listed_name, c.oid, n.nspname, c.relname,
           c.relkind, c.reltuples, c.relpages
    FROM matched m
    JOIN pg_class c ON c.oid = m.oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
),
leaves AS (
    SELECT p.oid AS root, pt.relid
    FROM (SELECT DISTINCT oid FROM found WHERE relkind = 'p') p,
         LATERAL pg_partition_tree(p.oid) pt
    WHERE pt.isleaf
),
leaf_stats AS (
    SELECT l.root,
           sum(greatest(lc.reltuples, 0)) AS reltuples,
           bool_or(lc.reltuples < 0 OR (lc.reltuples = 0 AND lc.relpages = 0)) AS unknown,
           sum(pg_total_relation_size(lc.oid)) AS size_bytes,
           sum(pg_relation_size(lc.oid)) AS heap_bytes,
           sum(lc.relpages) AS relpages
    FROM leaves l JOIN pg_class lc ON lc.oid = l.relid
    GROUP BY l.root
)
SELECT f.ord, f.oid, f.nspname AS schema_name, f.relname AS table_name, f.relkind,
       f.listed_schema, f.listed_name, f.listed_oid <> f.oid AS via_partition,
       CASE WHEN f.relkind = 'p' THEN
                CASE WHEN ls.unknown IS NOT FALSE THEN -1 ELSE ls.reltuples END
            ELSE f.reltuples END AS reltuples,
       coalesce(ls.relpages, f.relpages) AS relpages,
       CASE WHEN f.relkind = 'p' THEN coalesce(ls.size_bytes, 0)
            ELSE pg_total_relation_size(f.oid) END AS size_bytes,
       CASE WHEN f.relkind = 'p' THEN coalesce(ls.heap_bytes, 0)
            ELSE pg_relation_size(f.oid) END AS heap_bytes,
       obj_description(f.oid, 'pg_class') AS comment,
       has_table_privilege(f.oid, 'SELECT') AS can_select,
       has_table_privilege(f.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS can_write,
       CASE WHEN f.relkind = 'p' THEN pg_get_partkeydef(f.oid) END AS partition_key,
       CASE WHEN f.relkind = 'p' THEN
            ARRAY(SELECT CASE WHEN pn.nspname = f.nspname THEN pc.relname::text
                              ELSE pn.nspname || '.' || pc.relname END
                  FROM pg_partition_tree(f.oid) pt
                  JOIN pg_class pc ON pc.oid = pt.relid
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                  WHERE pt.isleaf ORDER BY pc.relname LIMIT 1000)
       END AS partitions
FROM found f
LEFT JOIN leaf_stats ls ON ls.root = f.oid
ORDER BY f.ord;

-- name: columns
-- Domains are described by their base type (so the DDL runs without the domain); enum labels
-- come in their declared order; ext_name names the extension owning a non-core type.
SELECT a.attrelid AS oid, a.attnum, a.attname,
       format_type(bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)
           AS data_type,
       CASE WHEN t.typtype = 'd' THEN format_type(t.oid, NULL) END AS domain_name,
       a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text AS identity,
       a.attgenerated::text AS generated,
       col_description(a.attrelid, a.attnum) AS comment,
       bt.typname AS base_type, bt.typcategory::text AS type_category, bt.typtype::text AS type_kind,
       et.typname AS element_type, et.typcategory::text AS element_category,
       CASE WHEN bt.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                 WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder)
       END AS enum_labels,
       CASE WHEN bt.typtype = 'e' THEN obj_description(bt.oid, 'pg_type') END AS type_comment,
       CASE WHEN coalesce(et.oid, bt.oid) >= 16384 THEN  -- not a built-in type
           (SELECT x.extname FROM pg_depend dep JOIN pg_extension x ON x.oid = dep.refobjid
             WHERE dep.classid = 'pg_type'::regclass AND dep.objid = coalesce(et.oid, bt.oid)
               AND dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
             LIMIT 1)
       END AS ext_name
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum;

-- name: constraints
-- Primary keys, unique constraints, foreign keys and checks, with column names in key order;
-- plus unique indexes that back no constraint (kind 'i'): they are keys all the same.
SELECT con.conrelid AS oid, con.conname AS name, con.contype::text AS kind,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS ref_columns,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = ANY(%(oids)s::oid[]) AND con.contype IN ('p', 'u', 'f', 'c')
UNION ALL
SELECT i.indrelid, ic.relname, 'i',
       ARRAY(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts
             ORDER BY k.ord),
       NULL, NULL, NULL, NULL
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(oids)s::oid[]) AND i.indisunique AND NOT i.indisprimary
  AND i.indpred IS NULL AND i.indexprs IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 3, 2;

-- name: column_stats
-- Planner statistics of the text columns (the enum-like candidates; no data is read). The
-- (schema, table, column) triples come from the columns query; most_common_vals is an
-- anyarray, and going through text turns a text column's into a text[].
SELECT s.schemaname::text AS schema_name, s.tablename::text AS table_name,
       s.attname::text AS attname, s.inherited, s.null_frac, s.n_distinct, s.avg_width,
       s.most_common_vals::text::text[] AS most_common_vals
FROM pg_stats s
WHERE s.schemaname = ANY(%(schemas)s::name[]) AND s.tablename = ANY(%(names)s::name[])
  AND (s.schemaname, s.tablename, s.attname) IN (
      SELECT * FROM unnest(%(schemas)s::name[], %(names)s::name[], %(columns)s::name[]));
