"""The simulation step: the engine on the run's bars, its errors in the queue's terms."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from worker.engine.api import BacktestResult, simulate_run
from worker.engine.errors import EngineInputError
from worker.engine.errors import RunCancelled as EngineCancelled
from worker.pipeline.inputs import RunInputs
from worker.queue.handler import PermanentRunError, RunCancelled


def simulate(
    inputs: RunInputs,
    bars: pl.DataFrame,
    *,
    progress: Callable[[str, float], None],
    should_cancel: Callable[[], bool],
) -> BacktestResult:
    """Run the validated backtest on bars already cut to its symbols and window (blocking)."""
    try:
        return simulate_run(
            bars,
            inputs.spec,
            timeframe=inputs.timeframe,
            windowed=True,
            progress=progress,
            should_cancel=should_cancel,
        )
    except EngineCancelled:
        raise RunCancelled() from None
    except EngineInputError as error:
        raise PermanentRunError(error.type, error.message, error.detail) from None
