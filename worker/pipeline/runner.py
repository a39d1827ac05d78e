"""The production run handler: a claimed run's inputs → its bars → the simulation → its
files and rows, handed to the queue as a `RunOutcome`.

Each step is a module of this package; this one only strings them together and reports
where the run is. Everything after the inputs runs in one thread (`ctx.run_cpu`): a small
run is mostly fixed costs, and each hop between the event loop and a thread is one of them.
The `dataset_loaded` / `simulation_started` events are written while the simulation runs
and have landed before the handler returns, so they precede the run's final write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from worker import jsonsafe
from worker.config import Settings
from worker.engine.folds import ChunkResult
from worker.pipeline import chunks, sweep
from worker.pipeline.inputs import RunInputs, read_inputs
from worker.pipeline.load import DatasetLoader
from worker.pipeline.roots import DatasetRoots
from worker.pipeline.simulate import evaluate_chunk, simulate
from worker.pipeline.sql import load
from worker.pipeline.store import outcome_of
from worker.queue.handler import (
    FanOut,
    PermanentRunError,
    RunCancelled,
    RunContext,
    RunJob,
    RunOutcome,
)
from worker.storage import FileStore


class BacktestRunner:
    """Executes backtest runs; holds the per-process caches (verified datasets, stores)."""

    def __init__(self) -> None:
        self._loaders: dict[tuple[str, tuple[str, ...]], DatasetLoader] = {}
        self._stores: dict[str, FileStore] = {}

    def datasets(self, settings: Settings) -> DatasetLoader:
        key = (settings.dataset_cache_dir, settings.dataset_read_roots)
        if key not in self._loaders:
            self._loaders[key] = DatasetLoader(key[0], DatasetRoots(key[1]))
        return self._loaders[key]

    def store(self, root: str) -> FileStore:
        if root not in self._stores:
            self._stores[root] = FileStore(root)
        return self._stores[root]

    async def __call__(self, job: RunJob, ctx: RunContext) -> RunOutcome | FanOut:
        inputs = await read_inputs(ctx.pool, job)
        cfg = inputs.spec.config
        results = None
        if cfg.sweep is not None:  # a sweep's parent: split it, or fan its children in
            results = await chunks.children_results(ctx.pool, job.id)
            if results is None:
                return await ctx.run_cpu(self._fan_out, inputs, ctx)
        elif cfg.sweep_chunk is not None:
            return await self._chunk(inputs, ctx)
        ctx.report_progress("loading", 0.0)
        started = _StartedEvents(ctx, inputs)
        try:
            outcome = await ctx.run_cpu(self._execute, inputs, ctx, started.loaded, results)
        except BaseException:
            await started.settle(propagate=False)
            raise
        await started.settle(propagate=True)
        return outcome

    def _fan_out(self, inputs: RunInputs, ctx: RunContext) -> FanOut:
        """A sweep's split; a walk-forward's is cut on the run's bars (loaded for it, and
        cached for the children this process will run)."""
        bars = None
        if inputs.spec.config.walk_forward is not None:
            bars = self.datasets(ctx.settings).load_run_bars(inputs)
        return sweep.fan_out(inputs, bars)

    async def _chunk(self, inputs: RunInputs, ctx: RunContext) -> RunOutcome:
        """A sweep's child: evaluate its combinations and report its best, its chunk handed
        to the completer with its success (one transaction; the handler returns, and its
        slot frees, as soon as it has computed). It sends no progress (its parent's progress
        counts the finished children)."""
        if inputs.parent_id is None:
            raise PermanentRunError(
                "invalid_config",
                "sweep_chunk is set by the worker on a sweep's children only; "
                "use sweep: {chunk_size: N} on the run itself",
            )
        return await ctx.run_cpu(self._evaluate_chunk, inputs, ctx)

    def _evaluate_chunk(self, inputs: RunInputs, ctx: RunContext) -> RunOutcome:
        started = time.perf_counter()
        bars = self.datasets(ctx.settings).load_run_bars(inputs)
        _check(ctx)
        evaluation = evaluate_chunk(
            inputs, bars, should_cancel=ctx.is_cancelled, threads=ctx.settings.engine_threads
        )
        return sweep.chunk_outcome(inputs, evaluation, time.perf_counter() - started)

    def _execute(
        self,
        inputs: RunInputs,
        ctx: RunContext,
        loaded: Callable[[int], None],
        results: list[ChunkResult] | None = None,
    ) -> RunOutcome:
        """load → simulate → store, in the run's thread."""
        bars = self.datasets(ctx.settings).load_run_bars(inputs)
        loaded(bars.height)
        _check(ctx)
        result = simulate(
            inputs,
            bars,
            progress=lambda stage, fraction: ctx.report_progress(stage, 5 + 90 * fraction),
            should_cancel=ctx.is_cancelled,
            chunks=results,
            threads=ctx.settings.engine_threads,
        )
        ctx.report_progress("artifacts", 95.0)
        outcome = outcome_of(inputs, result, self.store(ctx.settings.artifact_dir))
        _check(ctx)
        return outcome


class _StartedEvents:
    """`dataset_loaded` and `simulation_started`: one statement fenced on the attempt,
    started from the run's thread once the bars are loaded."""

    def __init__(self, ctx: RunContext, inputs: RunInputs) -> None:
        self._ctx = ctx
        self._inputs = inputs
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None

    def loaded(self, rows: int) -> None:
        """Called from the run's thread."""
        self._loop.call_soon_threadsafe(self._start, rows)

    def _start(self, rows: int) -> None:
        self._task = self._loop.create_task(self._write(rows))

    async def _write(self, rows: int) -> None:
        job = self._inputs.job
        loaded = {"attempt": job.attempt, "rows": rows, "hash": self._inputs.dataset_hash}
        await self._ctx.pool.execute(
            load("run_events"),
            job.id,
            job.worker_id,
            job.attempt,
            ["dataset_loaded", "simulation_started"],
            [jsonsafe.dumps(loaded), jsonsafe.dumps({"attempt": job.attempt})],
        )

    async def settle(self, *, propagate: bool) -> None:
        """Wait for the write; its error is the run's only if the run itself succeeded."""
        if self._task is None:
            return
        try:
            await asyncio.shield(self._task)
        except Exception:
            if propagate:
                raise


def _check(ctx: RunContext) -> None:
    if ctx.is_cancelled():
        raise RunCancelled()


execute_run = BacktestRunner()
