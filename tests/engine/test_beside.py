"""beside runs a function on the shared background thread, or inline while that thread is
busy or has not started it when its result is read; either way its result or its exception
reaches the caller, and the function runs once."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from worker.engine import beside as beside_module
from worker.engine.beside import Beside, beside


def on_thread(task: Beside[str]) -> str:
    """The task's result once the thread has run it (read earlier, it would run here)."""
    deadline = time.monotonic() + 10
    while not task.done():
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return task.result()


def idle() -> None:
    """Wait until the thread has nothing to do (work read early may still be queued)."""
    deadline = time.monotonic() + 10
    while not on_thread(beside(lambda: threading.current_thread().name)).startswith("engine"):
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_the_result_and_the_exception_reach_the_caller() -> None:
    assert beside(lambda: 6 * 7).result() == 42

    def fail() -> int:
        raise ValueError("no bars")

    with pytest.raises(ValueError, match="no bars"):
        beside(fail).result()


def test_a_busy_thread_leaves_the_work_inline() -> None:
    idle()
    gate = threading.Event()
    first = beside(lambda: gate.wait(10) and threading.current_thread().name)
    try:
        second = beside(lambda: threading.current_thread().name)
        assert second.done() and second.result() == threading.current_thread().name
    finally:
        gate.set()
    assert str(on_thread(first)).startswith("engine-beside")
    assert on_thread(beside(lambda: threading.current_thread().name)).startswith("engine-beside")


def test_work_the_thread_has_not_started_is_done_by_its_reader() -> None:
    gate, runs = threading.Event(), []

    def work() -> str:
        runs.append(1)
        return threading.current_thread().name

    # the thread is held by other work that leaves beside's slot free: ``work`` queues
    idle()
    beside_module._pool().submit(gate.wait, 10)
    try:
        task = beside(work)
        assert not task.done()
        assert task.result() == threading.current_thread().name
    finally:
        gate.set()
    # the thread skips it when it gets there, and is then free for the next work
    idle()
    assert runs == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_has_a_thread_of_its_own() -> None:
    assert beside(lambda: 1).result() == 1  # the parent's thread exists
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_in_child)
    child.start()
    child.join(30)
    assert child.exitcode == 0


def _in_child() -> None:
    os._exit(0 if beside(lambda: 6 * 7).result(timeout=10) == 42 else 1)
