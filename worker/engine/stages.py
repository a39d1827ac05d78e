"""A run's stages: progress reports, cancellation checks between them, and their timings
(``BacktestResult.timings``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from worker.engine.errors import RunCancelled

Progress = Callable[[str, float], None]
Cancel = Callable[[], bool]


class Stages:
    def __init__(self, progress: Progress | None, should_cancel: Cancel | None) -> None:
        self.progress = progress
        self.should_cancel = should_cancel
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._last = self._t0

    def check(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise RunCancelled("the run was cancelled", detail={"timings": self.timings})

    def report(self, stage: str, pct: float) -> None:
        if self.progress is not None:
            self.progress(stage, min(max(pct, 0.0), 1.0))

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now
        self.check()

    def total(self) -> None:
        self.timings["total"] = time.perf_counter() - self._t0
