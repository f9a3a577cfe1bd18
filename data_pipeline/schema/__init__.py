"""What the pipeline knows about a business database's schema, shared by every step.

* :mod:`.model` — tables, columns and keys as step 1 read them (``schema_metadata.json``);
* :mod:`.table_list` — parsing and checking table lists (``schema.table`` per line);
* :mod:`.files` — how step 1 names each table's files, so later steps find them;
* :mod:`.sql_checks` — static checks of SQL with sqlglot (one read-only query, known names);
* :mod:`.dedupe` — duplicate question→SQL pairs (same question, or same SQL template).
"""
