"""The REST API under ``/api/v0/data_pipeline`` and its JSON error envelope."""
