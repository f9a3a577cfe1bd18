"""Step 4 (``training_load``) and the training-data store.

* :mod:`.embedders` — ``Embedder`` (``embed_documents`` / ``embed_query``), ``LocalE5Embedder``
  (the default, in-process), ``HashingEmbedder`` (built in), ``OpenAICompatibleEmbedder``,
  ``get_embedder(config)``;
* :mod:`.documents` — the documents of a task folder, with content-derived ids;
* :mod:`.vector_store` — ``TrainingStore``: the pgvector tables Vanna's ``PG_VectorStore`` reads;
* :mod:`.load_plan` — what a load must embed, share, skip or replace;
* :mod:`.loader` — batched embedding and inserts;
* :mod:`.step` — ``run(ctx)``, ``output_files``, ``missing_inputs``;
* :mod:`.search` — ``python -m data_pipeline.training_load.search "question"``.
"""
