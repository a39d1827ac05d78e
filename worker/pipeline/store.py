"""A finished backtest becomes files and rows: the run's `RunOutcome`.

Files are rendered in memory (`worker.results`, pure) and stored under the attempt's own
prefix, `<run id>/attempt-<n>/`, before the completion, so two attempts never overwrite each
other. Their rows, the trade events and the final `metrics` event are values in the outcome:
the completer writes them in the same transaction as the `succeeded` status, and only if the
attempt still holds the run, so files of an attempt that lost are never referenced.
"""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import partial

from worker import jsonsafe
from worker.engine.api import BacktestResult
from worker.pipeline.inputs import RunInputs
from worker.queue.handler import ArtifactRecord, RunOutcome
from worker.results.artifacts import (
    StoredArtifact,
    defers_files,
    renders_aside,
    side_threads,
    start_files,
)
from worker.results.events import trade_events_csv
from worker.results.report import RunIdentity
from worker.storage import FileStore


def outcome_of(inputs: RunInputs, result: BacktestResult, store: FileStore) -> RunOutcome:
    """Render and store the run's files; the outcome for the completer (blocking I/O).

    `timings.render` is the rendering on the run's thread; `timings.store` the rest: writing
    those files and the event rows. Files rendered on a side thread (long curves) are not
    waited for here: they are the outcome's `pending_artifacts`, which the final transaction
    waits for once it has written the status and the events (`timings.store_wait`)."""
    job = inputs.job
    started = time.perf_counter()
    identity = RunIdentity(
        run_id=str(job.id),
        attempt=job.attempt,
        worker_id=job.worker_id,
        strategy_name=inputs.strategy_name,
        strategy_version=inputs.strategy_version,
        dataset_name=inputs.dataset_name,
        dataset_hash=inputs.dataset_hash,
        dataset_timeframe=inputs.timeframe,
        symbols=list(result.resolved_config.get("symbols") or inputs.dataset_symbols),
        label=inputs.options.label,
        notes=inputs.options.notes,
        tags=inputs.options.tags,
    )
    selection = inputs.options.artifact_selection
    if defers_files(result):
        # Every file is rendered and stored on a side thread while the final transaction
        # writes the status and the events (built here first: it needs them first).
        events = trade_events_csv(job.id, result.trades) + _metrics_event_csv(inputs, result)
        rendered = started
        files = start_files(store, job.id, job.attempt, identity, result, selection, defer=True)
    else:
        # The trade events (polars, GIL released) are built on a side thread while the
        # reports are drawn, if the run's files go there too; first, since the final
        # transaction needs them first (it waits for the files only after the events).
        trade_events = (
            side_threads().submit(partial(trade_events_csv, native=True), job.id, result.trades)
            if renders_aside(result)
            else None
        )
        files = start_files(store, job.id, job.attempt, identity, result, selection)
        files.render()
        rendered = time.perf_counter()
        events = (
            trade_events_csv(job.id, result.trades)
            if trade_events is None
            else trade_events.result()
        ) + _metrics_event_csv(inputs, result)
    if files.aside:  # the side threads' files are waited for by the final transaction
        pending = tuple(_record_of(f) for f in files.futures())
        stored: tuple[ArtifactRecord, ...] = ()
    else:
        pending, stored = (), tuple(_record(a) for a in files.wait())
    done = time.perf_counter()
    timings = {
        **result.timings,
        "render": rendered - started,
        "store": done - rendered,
    }
    return RunOutcome(
        metrics=dict(result.metrics),
        metadata=_metadata(inputs, result, timings),
        artifacts=stored,
        events_csv=events,
        pending_artifacts=pending,
    )


def _record(a: StoredArtifact) -> ArtifactRecord:
    return ArtifactRecord(
        kind=a.kind.value,
        filename=a.filename,
        storage_path=a.stored.uri,
        mime_type=a.mime_type,
        size_bytes=a.stored.size_bytes,
        sha256=a.stored.sha256,
    )


def _record_of(future: Future[StoredArtifact]) -> Future[ArtifactRecord]:
    """The artifact row of a file being stored, as a future of its own."""
    record: Future[ArtifactRecord] = Future()

    def settle(stored: Future[StoredArtifact]) -> None:
        try:
            record.set_result(_record(stored.result()))
        except BaseException as error:
            record.set_exception(error)

    future.add_done_callback(settle)
    return record


def _metrics_event_csv(inputs: RunInputs, result: BacktestResult) -> bytes:
    """The `metrics` event, stamped with the last bar's time, as one CSV row for COPY."""
    last = result.equity["timestamp"].max() if result.equity.height else datetime.now(UTC)
    assert isinstance(last, datetime)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [
            str(inputs.job.id),
            "metrics",
            last.isoformat(),
            jsonsafe.dumps(dict(result.metrics)),
        ]
    )
    return buffer.getvalue().encode()


def _metadata(
    inputs: RunInputs, result: BacktestResult, timings: dict[str, float]
) -> dict[str, object]:
    """What makes the numbers reproducible: engine version, dataset hash, resolved inputs."""
    return {
        "engine_version": result.engine_version,
        "dataset_hash": inputs.dataset_hash,
        "strategy": {
            "name": inputs.strategy_name,
            "version": inputs.strategy_version,
            "params": result.strategy,
        },
        "resolved_config": result.resolved_config,
        "best_params": result.best_params,
        "grid": result.grid_summary,
        "timings": timings,
    }
