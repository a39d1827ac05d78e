"""The one shape of the worker's background loops (after oban-py's `_looper`).

Every loop (producer, listener, heartbeat, reaper, completer) is started with `start()` and
ended with `await stop()`; the worker only wires them up. A loop that must finish its work
before it ends (the producer's claim, the completer's writes) overrides `_request_stop`;
the others are cancelled. `Periodic` is a loop that does one `tick()` every `interval`
seconds, logging what a tick raised and going on.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class Loop:
    name = "loop"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """End the loop and wait for it."""
        task = self._task
        if task is None:
            return
        self._request_stop(task)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def done(self) -> asyncio.Task[None]:
        """The loop's task (ends by itself only when the loop has nothing more to do)."""
        assert self._task is not None, f"{self.name} is not started"
        return self._task

    def _request_stop(self, task: asyncio.Task[None]) -> None:
        task.cancel()

    async def _loop(self) -> None:
        raise NotImplementedError


class Periodic(Loop):
    """`tick()` now and then every `interval` seconds until stopped."""

    def __init__(self, *, interval: float, log: Any) -> None:
        super().__init__()
        self.interval = interval
        self._log = log

    async def tick(self) -> None:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._log.warning(f"{self.name}_failed", error=repr(error))
            await asyncio.sleep(self.interval)
