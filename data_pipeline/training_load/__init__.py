"""Step 4 (``training_load``) and the training-data store.

* :mod:`.embedders` — ``Embedder``, ``HashingEmbedder`` (built in), ``OpenAICompatibleEmbedder``,
  ``get_embedder(config)``;
* :mod:`.documents` — the documents of a task folder, with content-derived ids;
* :mod:`.vector_store` — ``TrainingStore``: the pgvector tables Vanna's ``PG_VectorStore`` reads;
* :mod:`.loader` — batched embedding and inserts;
* :mod:`.step` — ``run(ctx)``, ``output_files``, ``missing_inputs``;
* :mod:`.search` — ``python -m data_pipeline.training_load.search "question"``.
"""
