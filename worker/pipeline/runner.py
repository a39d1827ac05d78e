"""The production run handler: a claimed run's inputs → its bars → the simulation → its
files and rows, handed to the queue as a `RunOutcome`.

Each step is a module of this package; this one only strings them together, moves the
blocking ones off the event loop (`ctx.run_cpu`) and reports where the run is. The queue
decides the run's final state from what comes back or is raised, and writes it.
"""

from __future__ import annotations

import polars as pl

from worker import jsonsafe
from worker.pipeline.inputs import RunInputs, read_inputs
from worker.pipeline.load import DatasetLoader
from worker.pipeline.simulate import simulate
from worker.pipeline.sql import load
from worker.pipeline.store import outcome_of
from worker.queue.handler import RunCancelled, RunContext, RunJob, RunOutcome
from worker.storage import FileStore


class BacktestRunner:
    """Executes backtest runs; holds the per-process caches (verified datasets, stores)."""

    def __init__(self) -> None:
        self._loaders: dict[str, DatasetLoader] = {}
        self._stores: dict[str, FileStore] = {}

    def datasets(self, cache_dir: str) -> DatasetLoader:
        if cache_dir not in self._loaders:
            self._loaders[cache_dir] = DatasetLoader(cache_dir)
        return self._loaders[cache_dir]

    def store(self, root: str) -> FileStore:
        if root not in self._stores:
            self._stores[root] = FileStore(root)
        return self._stores[root]

    async def __call__(self, job: RunJob, ctx: RunContext) -> RunOutcome:
        inputs = await read_inputs(ctx.pool, job)
        ctx.report_progress("loading", 0.0)
        loader = self.datasets(ctx.settings.dataset_cache_dir)
        bars = await ctx.run_cpu(loader.load_run_bars, inputs)
        await _started(ctx, inputs, bars)
        _check(ctx)
        result = await ctx.run_cpu(
            lambda: simulate(
                inputs,
                bars,
                progress=lambda stage, fraction: ctx.report_progress(stage, 5 + 90 * fraction),
                should_cancel=ctx.is_cancelled,
            )
        )
        ctx.report_progress("artifacts", 95.0)
        store = self.store(ctx.settings.artifact_dir)
        outcome = await ctx.run_cpu(outcome_of, inputs, result, store)
        _check(ctx)
        return outcome


async def _started(ctx: RunContext, inputs: RunInputs, bars: pl.DataFrame) -> None:
    """`dataset_loaded` and `simulation_started`, in one statement fenced on the attempt."""
    job = inputs.job
    loaded = {"attempt": job.attempt, "rows": bars.height, "hash": inputs.dataset_hash}
    await ctx.pool.execute(
        load("run_events"),
        job.id,
        job.worker_id,
        job.attempt,
        ["dataset_loaded", "simulation_started"],
        [jsonsafe.dumps(loaded), jsonsafe.dumps({"attempt": job.attempt})],
    )


def _check(ctx: RunContext) -> None:
    if ctx.is_cancelled():
        raise RunCancelled()


execute_run = BacktestRunner()
