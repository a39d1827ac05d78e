"""The simulation step: the engine on the run's bars, its errors in the queue's terms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from worker.engine.api import BacktestResult, simulate_run
from worker.engine.errors import EngineInputError
from worker.engine.errors import RunCancelled as EngineCancelled
from worker.engine.folds import ChunkResult
from worker.engine.grid import Evaluation
from worker.engine.sweep import evaluate_chunk as engine_evaluate_chunk
from worker.pipeline.inputs import RunInputs
from worker.queue.handler import PermanentRunError, RunCancelled


def simulate(
    inputs: RunInputs,
    bars: pl.DataFrame,
    *,
    progress: Callable[[str, float], None],
    should_cancel: Callable[[], bool],
    chunks: list[ChunkResult] | None = None,
    threads: int | None = None,
) -> BacktestResult:
    """Run the validated backtest on bars already cut to its symbols and window (blocking);
    `chunks`: a sweep's children's evaluations, ranked instead of running the grid;
    `threads`: ENGINE_THREADS (None: the engine's default)."""
    with _engine_errors():
        return simulate_run(
            bars,
            inputs.spec,
            timeframe=inputs.timeframe,
            windowed=True,
            progress=progress,
            should_cancel=should_cancel,
            chunks=chunks,
            threads=threads,
        )


def evaluate_chunk(
    inputs: RunInputs,
    bars: pl.DataFrame,
    *,
    should_cancel: Callable[[], bool],
    threads: int | None = None,
) -> Evaluation:
    """A sweep child's combinations on its bars (blocking)."""
    with _engine_errors():
        return engine_evaluate_chunk(
            bars,
            inputs.spec,
            timeframe=inputs.timeframe,
            windowed=True,
            should_cancel=should_cancel,
            threads=threads,
        )


@contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except EngineCancelled:
        raise RunCancelled() from None
    except EngineInputError as error:
        raise PermanentRunError(error.type, error.message, error.detail) from None
