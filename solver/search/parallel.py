"""Independent solves on a local process pool: results as they finish, and Ctrl-C stops every worker at once."""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from solver.milp import stop

QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes (spawned, not forked: a fork would copy a parent's solver threads
    mid-flight) that leave Ctrl-C to the parent; keep it for several batches of tasks to pay the start-up once."""
    # After Ctrl-C the CLI exits at once (os._exit, exit code 130) without finalising the pool's queues;
    # multiprocessing's resource tracker then unlinks their semaphores itself but warns about "leaked" ones. Its
    # process takes the parent's -W options when it starts: keep that expected clean-up quiet.
    if QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(QUIET_TRACKER)
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
            stop.check()  # Ctrl-C under stop_on_sigint only sets a flag: look at it while the workers run
            finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future.result()
    except BaseException:
        # Stop at once: cancel what has not started and end the running workers (the executor has no public way
        # to stop a running task); the caller keeps what finished.
        running = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in running:
            process.terminate()
        for process in running:
            process.join(5)
        pool.shutdown(wait=True)  # release the pool's queues now, not in an exit handler that may never run
        raise
