"""A finished backtest's files: rendered, stored under the attempt's own prefix, then recorded.

Files are written before the completion transaction, under `<run id>/attempt-<n>/`, so two
attempts never overwrite each other; only the attempt that wins the fenced completion inserts
artifact rows, so files of a losing attempt are never referenced.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import asyncpg
import polars as pl

from worker.db.enums import ArtifactKind
from worker.engine.api import BacktestResult
from worker.results.plots import equity_png
from worker.results.report import RunIdentity, html_report, json_report
from worker.results.sql import load
from worker.storage import FileStore, StoredFile


@dataclass(frozen=True)
class RenderedFile:
    filename: str
    kind: ArtifactKind
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class StoredArtifact:
    filename: str
    kind: ArtifactKind
    mime_type: str
    stored: StoredFile


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z", float_precision=10)
    return buffer.getvalue()


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def render_files(identity: RunIdentity, result: BacktestResult) -> list[RenderedFile]:
    """Every file of a successful run, in memory (pure)."""
    title = (
        f"{identity.strategy_name} v{identity.strategy_version} on {identity.dataset_name}"
        f" ({', '.join(identity.symbols[:6])}{'…' if len(identity.symbols) > 6 else ''})"
    )
    chart = equity_png(result.equity, result.trades, title)
    files = [
        RenderedFile("equity.csv", ArtifactKind.CSV, "text/csv", _csv(result.equity)),
        RenderedFile(
            "equity.parquet",
            ArtifactKind.PARQUET,
            "application/vnd.apache.parquet",
            _parquet(result.equity),
        ),
        RenderedFile("trades.csv", ArtifactKind.CSV, "text/csv", _csv(result.trades)),
        RenderedFile(
            "report.json",
            ArtifactKind.JSON,
            "application/json",
            json_report(
                identity,
                result.metrics,
                result.resolved_config,
                result.strategy,
                result.engine_version,
                result.timings,
                result.best_params,
                result.grid_summary,
            ),
        ),
        RenderedFile("equity.png", ArtifactKind.PLOT, "image/png", chart),
        RenderedFile(
            "report.html",
            ArtifactKind.REPORT,
            "text/html; charset=utf-8",
            html_report(
                identity,
                result.metrics,
                result.equity,
                result.trades,
                chart,
                result.resolved_config,
                result.strategy,
                result.engine_version,
                result.timings,
                result.leaderboard,
                result.best_params,
            ),
        ),
    ]
    if result.leaderboard is not None:
        files.append(
            RenderedFile("leaderboard.csv", ArtifactKind.CSV, "text/csv", _csv(result.leaderboard))
        )
    return files


def attempt_prefix(run_id: uuid.UUID | str, attempt: int) -> str:
    return f"{run_id}/attempt-{attempt}"


def store_files(
    store: FileStore, run_id: uuid.UUID | str, attempt: int, files: list[RenderedFile]
) -> list[StoredArtifact]:
    prefix = attempt_prefix(run_id, attempt)
    return [
        StoredArtifact(f.filename, f.kind, f.mime_type, store.put(f"{prefix}/{f.filename}", f.data))
        for f in files
    ]


async def insert_artifact_rows(
    connection: asyncpg.Connection, run_id: uuid.UUID, artifacts: list[StoredArtifact]
) -> None:
    await connection.executemany(
        load("insert_artifact"),
        [
            (
                run_id,
                a.kind.value,
                a.filename,
                a.stored.uri,
                a.mime_type,
                a.stored.size_bytes,
                a.stored.sha256,
            )
            for a in artifacts
        ],
    )
