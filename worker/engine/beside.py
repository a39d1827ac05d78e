"""Work a run does beside its main path, on one background thread shared by the process.

A single run on one symbol puts three pieces of work here (compiled passes and a polars
query, which release the GIL; ``api.simulate_run``): the buy-and-hold curve
(``frames.buy_and_hold_paths``, it reads only the closes) while the signals run; the trade
pass and the trade frame (``api._trade_side``, they read the sized fills, not the curve)
while the curve's pass runs; the benchmark metrics that come straight from the two curves
while the rest of the analysis runs. The numbers do not depend on it: after a margin call
or a ruin the curve's pass changed the fills, and the trades are built again inline. While
the thread is busy (several runs at once in one process) the work is done inline, so no run
waits for another's. A forked child starts its own thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_POOL: ThreadPoolExecutor | None = None
_FREE = threading.Semaphore(1)
_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-beside")
        return _POOL


def _forget() -> None:
    """In a forked child: the parent's thread is not there, start afresh."""
    global _POOL, _FREE, _LOCK
    _POOL, _FREE, _LOCK = None, threading.Semaphore(1), threading.Lock()


os.register_at_fork(after_in_child=_forget)


def beside(fn: Callable[[], T]) -> Future[T]:
    """``fn()`` on the background thread, or here and now when it is busy."""
    if _FREE.acquire(blocking=False):

        def run() -> T:
            try:
                return fn()
            finally:
                _FREE.release()

        try:
            return _pool().submit(run)
        except RuntimeError:  # the interpreter is shutting down
            _FREE.release()
    done: Future[T] = Future()
    try:
        done.set_result(fn())
    except BaseException as exc:  # raised where the result is read, as from the thread
        done.set_exception(exc)
    return done
