"""Running CPU-bound work off the event loop: daemon threads, kept for the next call.

Threads, not processes (measured with `python -m bench.executor_choice`): a
pure-Python busy loop in a thread lets the event loop in every `sys.getswitchinterval()`
(5 ms), so heartbeats and LISTEN answer within a few milliseconds, and polars/numpy release
the GIL for most of their work; a process pool would pickle every DataFrame in and out.
Daemon threads, because a thread cannot be killed: a handler that ignores `is_cancelled()`
past its time limit is abandoned (its result is discarded, the run is already written) and
cannot keep the process from exiting; the next call gets another thread.

A thread that finishes a call waits `IDLE_SECONDS` for the next one before it exits. Starting
a thread blocks its starter until the new thread holds the GIL, which on a busy worker is
after another run's thread lets it go (up to a switch interval): with a thread per call
that was the event loop stalled at every run's start. Each call runs in a fresh
`contextvars.Context`, as in a new thread, and the thread takes the call's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

IDLE_SECONDS = 30.0
_IDLE_NAME = "cpu-idle"

Call = Callable[[], None]

_live = 0
_lock = threading.Lock()
_idle: list[queue.SimpleQueue[Call]] = []  # the inboxes of threads waiting for a call


def live_threads() -> int:
    """Calls started and not yet finished (abandoned ones included)."""
    return _live


def idle_threads() -> int:
    """Threads waiting for their next call."""
    return len(_idle)


def _forget() -> None:
    """In a forked child: the parent's threads are not there, start afresh."""
    global _live, _lock, _idle
    _live, _lock, _idle = 0, threading.Lock(), []


os.register_at_fork(after_in_child=_forget)


def _serve(inbox: queue.SimpleQueue[Call]) -> None:
    """A thread's life: each call handed to its inbox, until none comes for a while."""
    me = threading.current_thread()
    while True:
        try:
            call = inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _lock:
                if inbox in _idle:  # nobody took it meanwhile
                    _idle.remove(inbox)
                    return
            continue  # a call was handed over as the wait ended: it is in the inbox
        call()
        del call  # the finished call's inputs are not kept while the thread waits
        me.name = _IDLE_NAME
        with _lock:
            _idle.append(inbox)


def _hand_over(call: Call, name: str) -> None:
    with _lock:
        inbox = _idle.pop() if _idle else None
    if inbox is None:
        inbox = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(inbox,), name=name, daemon=True).start()
    inbox.put(call)


async def run_in_thread(fn: Callable[..., T], *args: Any, name: str = "cpu") -> T:
    """`fn(*args)` in a daemon thread; the awaiting task gets its result or exception.

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

    def call() -> None:
        global _live
        threading.current_thread().name = name
        try:
            result = contextvars.Context().run(fn, *args)
        except BaseException as error:
            outcome: tuple[bool, Any] = (False, error)
        else:
            outcome = (True, result)
        finally:
            with _lock:
                _live -= 1
        with contextlib.suppress(RuntimeError):  # the loop closed while we computed
            loop.call_soon_threadsafe(deliver, *outcome)

    with _lock:
        _live += 1
    _hand_over(call, name)
    return await future
