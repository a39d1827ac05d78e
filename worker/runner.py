"""The run handler: load the dataset, simulate, render artifacts, hand the results to the queue.

`execute_run` is the queue's default handler (`backtest-worker run --handler …` can replace
it). Data flows one way: claimed run → dataset → engine → files → the fenced completion, where
artifact rows and trade events are written in the same transaction as the `succeeded` status.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from worker.datasets import DatasetLoader
from worker.engine.api import BacktestResult, run_backtest
from worker.engine.errors import EngineInputError
from worker.engine.errors import RunCancelled as EngineCancelled
from worker.engine.params import parse_run_config
from worker.engine.strategies import parse_strategy
from worker.queue.handler import PermanentRunError, RunCancelled, RunContext, RunJob, RunOutcome
from worker.results.artifacts import StoredArtifact, insert_artifact_rows, render_files, store_files
from worker.results.events import copy_events_csv, insert_event, trade_events_csv
from worker.results.report import RunIdentity
from worker.results.sql import load
from worker.storage import FileStore


def _permanent(error: EngineInputError) -> PermanentRunError:
    return PermanentRunError(error.type, error.message, error.detail)


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
        inputs = await ctx.pool.fetchrow(load("run_inputs"), job.id)
        if inputs is None:
            raise PermanentRunError("run_missing", f"run {job.id} has no dataset or strategy row")
        strategy_params = _as_dict(inputs["strategy_params"])
        try:
            window = parse_run_config(job.config)
            parse_strategy(strategy_params, window.params)
        except EngineInputError as error:
            raise _permanent(error) from None

        ctx.report_progress("loading", 0.0)
        loader = self.datasets(ctx.settings.dataset_cache_dir)
        bars = await ctx.run_cpu(
            lambda: loader.load(
                inputs["storage_uri"],
                inputs["dataset_hash"],
                symbols=list(window.symbols) if window.symbols else None,
                start=window.start,
                end=window.end,
            )
        )
        await _event(
            ctx, job, "dataset_loaded", {"rows": bars.height, "hash": inputs["dataset_hash"]}
        )
        self._check(ctx)

        await _event(ctx, job, "simulation_started", {"attempt": job.attempt})
        result = await ctx.run_cpu(
            self._simulate, job, ctx, bars, strategy_params, inputs["timeframe"]
        )

        ctx.report_progress("artifacts", 95.0)
        identity = RunIdentity(
            run_id=str(job.id),
            attempt=job.attempt,
            worker_id=job.worker_id,
            strategy_name=inputs["strategy_name"],
            strategy_version=inputs["strategy_version"],
            dataset_name=inputs["dataset_name"],
            dataset_hash=inputs["dataset_hash"],
            dataset_timeframe=inputs["timeframe"],
            symbols=sorted(set(bars["symbol"].unique().to_list())),
        )
        store = self.store(ctx.settings.artifact_dir)
        stored = await ctx.run_cpu(
            lambda: store_files(store, job.id, job.attempt, render_files(identity, result))
        )
        trade_events = await ctx.run_cpu(trade_events_csv, job.id, result.trades)
        self._check(ctx)
        ctx.report_progress("saving", 99.0)
        return RunOutcome(
            metrics=dict(result.metrics),
            metadata=_metadata(result, inputs),
            finalize=_finalizer(job.id, stored, trade_events, result),
        )

    def _simulate(
        self,
        job: RunJob,
        ctx: RunContext,
        bars: Any,
        strategy_params: dict[str, Any],
        timeframe: str,
    ) -> BacktestResult:
        try:
            return run_backtest(
                bars,
                strategy_params,
                job.config,
                initial_capital=float(job.initial_capital),
                timeframe=timeframe,
                progress=lambda stage, fraction: ctx.report_progress(stage, 5 + 90 * fraction),
                should_cancel=ctx.is_cancelled,
            )
        except EngineCancelled:
            raise RunCancelled() from None
        except EngineInputError as error:
            raise _permanent(error) from None

    @staticmethod
    def _check(ctx: RunContext) -> None:
        if ctx.is_cancelled():
            raise RunCancelled()


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value

    loaded = json.loads(value)
    if not isinstance(loaded, dict):
        raise PermanentRunError("invalid_params", "strategies.params must be a JSON object")
    return loaded


def _metadata(result: BacktestResult, inputs: asyncpg.Record) -> dict[str, Any]:
    """What makes the numbers reproducible: engine version, dataset hash, resolved inputs."""
    return {
        "engine_version": result.engine_version,
        "dataset_hash": inputs["dataset_hash"],
        "strategy": {
            "name": inputs["strategy_name"],
            "version": inputs["strategy_version"],
            "params": result.strategy,
        },
        "resolved_config": result.resolved_config,
        "best_params": result.best_params,
        "grid": result.grid_summary,
        "timings": result.timings,
    }


def _finalizer(
    run_id: uuid.UUID,
    stored: list[StoredArtifact],
    trade_events: bytes,
    result: BacktestResult,
) -> Any:
    async def finalize(connection: asyncpg.Connection) -> None:
        await insert_artifact_rows(connection, run_id, stored)
        await copy_events_csv(connection, trade_events)
        last = result.equity["timestamp"].max() if result.equity.height else None
        assert last is None or isinstance(last, datetime)
        await insert_event(connection, run_id, "metrics", dict(result.metrics), last)

    return finalize


async def _event(ctx: RunContext, job: RunJob, event_type: str, payload: dict[str, Any]) -> None:
    await insert_event(ctx.pool, job.id, event_type, payload)


execute_run = BacktestRunner()
