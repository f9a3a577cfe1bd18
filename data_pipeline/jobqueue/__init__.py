"""The task queue and its workers, on procrastinate (jobs in the pipeline PostgreSQL).

``dispatch`` (API side): a run goes into the queue (the task becomes ``queued``) and a job
carries it to a worker. ``jobs``: the procrastinate app with its two tasks, "run this task's
run" and the periodic monitor. ``worker``: a worker service (embedded in the API process, or on
its own: ``python -m data_pipeline.worker``) that takes a job, waits for a slot under
``MAX_CONCURRENT_TASKS`` across all workers, starts the executor process and watches it.
"""
