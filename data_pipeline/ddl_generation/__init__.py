"""Step 1, ``ddl_generation``: reads the listed tables' metadata from the business database
and writes ``<table>.ddl`` and ``<table>_detail.md`` per table (SPEC §6).

* :mod:`.metadata_reader` — ``read_schema_metadata`` / ``MetadataReader`` (catalog + samples);
* :mod:`.catalog` and :mod:`.sampling` — its catalog rows and bounded data queries;
* :mod:`.writers` — the DDL and Markdown files;
* :mod:`.step` — ``run(ctx)``, ``output_files``, ``missing_inputs``.
"""
