"""A stop request (Ctrl-C) that reaches inside a running solver.

Python runs a signal handler only between bytecodes, and raising KeyboardInterrupt inside a callback that HiGHS
calls from C++ can be lost. So during a solve SIGINT only sets `STOP`; HiGHS polls it through its interrupt callback
and returns within milliseconds, and the session raises KeyboardInterrupt from plain Python right after.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP = threading.Event()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested."""
    if STOP.is_set():
        raise KeyboardInterrupt


@contextmanager
def stop_on_sigint() -> Iterator[None]:
    """Within the block, Ctrl-C requests a stop instead of raising wherever Python happens to be."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    STOP.clear()

    def request(_signum: int, _frame: FrameType | None) -> None:
        STOP.set()

    previous = signal.signal(signal.SIGINT, request)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
        STOP.clear()
