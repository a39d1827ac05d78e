"""`executor.run_in_thread`: CPU work in daemon threads that are kept for the next call."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import Callable

import pytest

from worker.queue import executor
from worker.queue.executor import run_in_thread

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="fresh")


def whoami() -> tuple[threading.Thread, str]:
    return threading.current_thread(), threading.current_thread().name


async def test_results_and_errors_reach_the_caller() -> None:
    assert await run_in_thread(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await run_in_thread(lambda: 1 / 0)


async def test_a_finished_thread_takes_the_next_call_under_its_name() -> None:
    first, first_name = await run_in_thread(whoami, name="run-a")
    assert first_name == "run-a"
    await asyncio.sleep(0.01)  # the thread is back among the idle ones
    second, second_name = await run_in_thread(whoami, name="run-b")
    assert second is first and second_name == "run-b"
    assert executor.live_threads() == 0


async def test_each_call_starts_with_a_fresh_context() -> None:
    def mark_and_read() -> str:
        seen = MARK.get()
        MARK.set("set by a call")
        return seen

    assert await run_in_thread(mark_and_read) == "fresh"
    await asyncio.sleep(0.01)
    assert await run_in_thread(mark_and_read) == "fresh"


async def test_an_abandoned_call_keeps_its_thread_and_the_next_gets_another() -> None:
    release, threads = threading.Event(), []

    def held() -> None:
        threads.append(threading.current_thread())
        release.wait(10)

    stuck = asyncio.ensure_future(run_in_thread(held, name="stuck"))
    await asyncio.sleep(0.05)
    stuck.cancel()  # the run's time limit: it is abandoned, its thread runs on
    with pytest.raises(asyncio.CancelledError):
        await stuck
    other, name = await asyncio.wait_for(run_in_thread(whoami, name="next"), 5)
    assert name == "next" and other is not threads[0]
    assert executor.live_threads() == 1  # the abandoned call is still running
    release.set()
    assert await asyncio.to_thread(eventually, lambda: executor.live_threads() == 0)


def eventually(condition: Callable[[], bool], within: float = 5) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def test_an_idle_thread_exits_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.05)
    thread, _ = await run_in_thread(whoami, name="short-lived")
    thread.join(5)
    assert not thread.is_alive(), "the idle thread never exited"
    assert (await run_in_thread(whoami, name="later"))[0] is not thread


async def test_a_forked_child_starts_its_own_threads() -> None:
    await run_in_thread(whoami)  # an idle thread in the parent
    await asyncio.sleep(0.01)
    assert executor.idle_threads() >= 1
    pid = os.fork()
    if pid == 0:  # the child: the parent's idle threads are not here
        code = 1
        try:
            if executor.idle_threads() == 0:
                loop = asyncio.new_event_loop()
                code = 0 if loop.run_until_complete(run_in_thread(sum, [2, 2])) == 4 else 1
        finally:
            os._exit(code)
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
