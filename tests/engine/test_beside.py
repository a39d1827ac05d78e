"""beside runs a function on the shared background thread, or inline while that thread is
busy; either way its result or its exception reaches the caller."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from worker.engine.beside import beside


def test_the_result_and_the_exception_reach_the_caller() -> None:
    assert beside(lambda: 6 * 7).result() == 42

    def fail() -> int:
        raise ValueError("no bars")

    with pytest.raises(ValueError, match="no bars"):
        beside(fail).result()


def test_a_busy_thread_leaves_the_work_inline() -> None:
    gate = threading.Event()
    first = beside(lambda: gate.wait(10) and threading.current_thread().name)
    try:
        second = beside(lambda: threading.current_thread().name)
        assert second.done() and second.result() == threading.current_thread().name
    finally:
        gate.set()
    assert str(first.result()).startswith("engine-beside")
    assert beside(lambda: threading.current_thread().name).result().startswith("engine-beside")


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
