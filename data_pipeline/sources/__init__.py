"""Business databases: the PostgreSQL databases the pipeline documents, and only ever reads.

* :mod:`.registry` — named sources (``source:NAME`` → DSN), database names, how a source is shown;
* :mod:`.connection` — the one way to open a read-only session on a business database;
* :mod:`.catalog` — listing a source's tables (for table lists and grounded repair).
"""
