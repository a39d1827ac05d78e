"""Work a run does beside its main path, on one background thread shared by the process.

A single run on one symbol puts three pieces of work here (compiled passes and a polars
query, which release the GIL; ``api.simulate_run``): the buy-and-hold curve
(``frames.buy_and_hold_paths``, it reads only the closes) while the signals run; the trade
pass and the trade frame (``api._trade_side``, they read the sized fills, not the curve)
while the curve's pass runs; the benchmark metrics that come straight from the two curves
while the rest of the analysis runs. The numbers do not depend on it: after a margin call
or a ruin the curve's pass changed the fills, and the trades are built again inline. While
the thread is busy (several runs at once in one process) the work is done inline, so no run
waits for another's; and work the thread has not started by the time its result is read
is done there and then by the reader (the thread skips it), so a run never waits for a
core to come free. A forked child starts its own thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

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


class Beside(Generic[T]):
    """``fn()``, run once: by whichever of the thread and the reader of its result gets to
    it first."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._claim = threading.Lock()
        self._outcome: Future[T] = Future()

    def run(self, then: Callable[[], object] = lambda: None) -> None:
        """Run ``fn`` here, unless it was started elsewhere; ``then()`` before its outcome
        is published (the thread frees its slot there, so a reader finds it free)."""
        if not self._claim.acquire(blocking=False):
            then()
            return
        try:
            value = self._fn()
        except BaseException as exc:  # raised where the result is read, as from the thread
            then()
            self._outcome.set_exception(exc)
            return
        then()
        self._outcome.set_result(value)

    def done(self) -> bool:
        return self._outcome.done()

    def result(self, timeout: float | None = None) -> T:
        """The result (or the exception) of ``fn``; run here if it has not started."""
        self.run()
        return self._outcome.result(timeout)


def beside(fn: Callable[[], T]) -> Beside[T]:
    """``fn()`` on the background thread, or here and now when it is busy."""
    task = Beside(fn)
    if _FREE.acquire(blocking=False):
        try:
            _pool().submit(task.run, _FREE.release)
            return task
        except RuntimeError:  # the interpreter is shutting down
            _FREE.release()
    task.run()
    return task
