"""Thread pools that let go when the run is stopped.

``with ThreadPoolExecutor(...)`` waits for every call in flight when its block is left, even
by Ctrl-C or a cancellation: a hanging LLM endpoint (a 60 s timeout and retries) then holds the
whole process for minutes. :func:`abandoning_pool` waits only when the block ends normally;
when it is left by an exception, queued work is dropped and calls in flight are abandoned
(their threads finish on their own, or die with the process).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


@contextmanager
def abandoning_pool(max_workers: int, thread_name_prefix: str = "") -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
