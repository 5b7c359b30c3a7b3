"""Independent solves on a local process pool: results as they finish, and Ctrl-C stops every worker at once."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes (spawned, not forked: a fork would copy a parent's solver threads
    mid-flight) that leave Ctrl-C to the parent; keep it for several batches of tasks to pay the start-up once."""
    return ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_sigint)


def run_parallel(func: Callable[..., Any], tasks: Sequence[tuple], workers: int, in_process: bool = False,
                 pool: ProcessPoolExecutor | None = None) -> Iterator[tuple[int, Any]]:
    """(task index, func(*task)) for every task, in the order they finish, on `pool` (kept open) or on a pool of
    `workers` processes made for these tasks; `in_process`: here, in order."""
    if in_process:
        for i, task in enumerate(tasks):
            yield i, func(*task)
        return
    if pool is None:
        with worker_pool(min(workers, len(tasks))) as own:
            yield from run_parallel(func, tasks, workers, pool=own)
        return
    pending = {pool.submit(func, *task): i for i, task in enumerate(tasks)}
    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future.result()
    except BaseException:
        # Stop at once: cancel what has not started and end the running workers (the executor has no public way
        # to stop a running task); the caller keeps what finished.
        running = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in running:
            process.terminate()
        raise
