-- Curation of a task's pairs (data_pipeline/api/pairs.py).

-- name: lock_pair_curation
-- One writer of a task's pair file at a time, whichever API node takes the request (held
-- until the transaction ends; two-key advisory locks do not meet the migrations' lock).
SELECT pg_advisory_xact_lock(1330664533, hashtext(%(task_id)s));
