"""Curation of a task's question/SQL pairs (issue #13): the pair file stays the source of truth.

* :mod:`.pair_file` — reading the newest ``*_pair.json``, stable pair ids, the locked write
  (backup of the previous version, atomic replace) and the change log ``pair_curation.log``;
* :mod:`.states` — each pair's validation state, from its own ``review`` or step 3's report;
* :mod:`.tables` — the tables a SQL reads (sqlglot, CTE names left out);
* :mod:`.run_sql` — running a pair's SQL read-only behind the validator's static checks, and
  validating an edit with the same validator and level as step 3.

Every entry of the file may carry ``id`` and ``review`` (state, error, approval, who edited
it and when); keys curation does not know are never dropped.
"""
