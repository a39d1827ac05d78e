"""Running CPU-bound work off the event loop: one daemon thread per call.

Threads, not processes (measured with `python -m bench.executor_choice`): a
pure-Python busy loop in a thread lets the event loop in every `sys.getswitchinterval()`
(5 ms), so heartbeats and LISTEN answer within a few milliseconds, and polars/numpy release
the GIL for most of their work; a process pool would pickle every DataFrame in and out.
Daemon threads, because a thread cannot be killed: a handler that ignores `is_cancelled()`
past its time limit is abandoned (its result is discarded, the run is already written) and
cannot keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_live = 0
_live_lock = threading.Lock()


def live_threads() -> int:
    """CPU threads started and not yet finished (abandoned ones included)."""
    return _live


async def run_in_thread(fn: Callable[..., T], *args: Any, name: str = "cpu") -> T:
    """`fn(*args)` in a new daemon thread; the awaiting task gets its result or exception.

    Cancelling the awaiting task stops waiting at once; the thread runs to its end and its
    result is dropped.
    """
    global _live
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        global _live
        try:
            result = fn(*args)
        except BaseException as error:
            outcome: tuple[bool, Any] = (False, error)
        else:
            outcome = (True, result)
        finally:
            with _live_lock:
                _live -= 1
        with contextlib.suppress(RuntimeError):  # the loop closed while we computed
            loop.call_soon_threadsafe(deliver, *outcome)

    with _live_lock:
        _live += 1
    threading.Thread(target=target, name=name, daemon=True).start()
    return await future
