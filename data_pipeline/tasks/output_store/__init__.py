"""The output store: a copy of every task's output files that every machine can read.

A run may execute on a worker host with its own data root, so the API node that answers a
download may not have the task's folder. Each registration of a task folder
(:func:`data_pipeline.workflow.outputs.register_outputs`) therefore copies new and changed
files here, and removes the copies of files whose rows it removes; the API streams from here
what its own disk lacks, and a worker brings a folder up to date with :meth:`materialize`
before it runs a step.

Two backends, chosen by ``OUTPUT_STORE_URL``:

- unset: the pipeline database. The content lies in ``data_pipeline_output_blobs`` in chunks
  of at most :data:`CHUNK_SIZE` (1 MiB), written and read a chunk at a time, so a large file
  is never whole in memory; a file is copied in one transaction.
- ``s3://bucket/prefix?endpoint_url=http://host:9000&region=us-east-1`` (any S3-compatible
  store; ``addressing_style=virtual|path|auto`` too): one object per file under
  ``<prefix>/<task_id>/<path>``, uploaded in parts of :data:`S3_PART_SIZE` when larger.
  Credentials are the URL's ``user:password`` (percent-encoded) or the standard ``AWS_*``
  environment variables. ``boto3`` is imported only when this backend is used.

Either way the catalog ``data_pipeline_output_files`` in the pipeline database says what is
stored: the sha256 and size of the bytes actually copied (computed while copying, so it is
true even when a file grows meanwhile, as the run's log does), the file's modification time,
and the location. Copying is idempotent (a file whose stored sha256 is the same is not copied
again) and serialised per file by an advisory lock. Every read is checked: a stream whose
bytes do not hash to the catalog's sha256 stops with :class:`OutputStoreError` instead of
ending normally (the API's client sees a cut download, never a wrong file).

A failure to copy raises :class:`OutputStoreError`; an outage of the pipeline database stays
:class:`core.errors.DatabaseUnavailable` (ridden out like any other). What a failure does to a
run is decided by the registration and the tracker: see :mod:`data_pipeline.workflow.outputs`.
"""

from __future__ import annotations

from app_config import Config
from core.db import Database
from data_pipeline.tasks.output_store.base import (
    CHUNK_SIZE,
    OutputStore,
    OutputStoreError,
    OutputStream,
    StoredFile,
    file_sha256,
)
from data_pipeline.tasks.output_store.database import DatabaseOutputStore
from data_pipeline.tasks.output_store.s3 import S3OutputStore

__all__ = [
    "CHUNK_SIZE",
    "DatabaseOutputStore",
    "OutputStore",
    "OutputStoreError",
    "OutputStream",
    "S3OutputStore",
    "StoredFile",
    "file_sha256",
    "output_store_for",
]


def output_store_for(config: Config, db: Database) -> OutputStore:
    """The output store ``OUTPUT_STORE_URL`` names (unset: the pipeline database ``db``).

    Raises ConfigError (the URL masked) when the URL cannot be used.
    """
    if not config.output_store_url:
        return DatabaseOutputStore(db)
    return S3OutputStore(db, config.output_store_url)
