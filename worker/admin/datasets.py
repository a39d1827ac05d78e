"""Importing bars files as datasets: validate, canonicalise, hash, store as Parquet, register."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from worker.db import Dataset
from worker.engine.bar_files import read_bars_source
from worker.engine.bars import canonical_hash, dataset_summary, write_canonical_parquet
from worker.engine.errors import EngineInputError
from worker.engine.timeframes import parse_timeframe, timeframe_delta
from worker.schemas import DatasetCreate
from worker.storage import FileStore

Step = Callable[[str], None]


@dataclass(frozen=True)
class ImportedDataset:
    id: uuid.UUID
    created: bool
    hash: str
    storage_uri: str
    rows: int
    symbols: list[str]
    name: str = ""  # the row's name: an earlier import's when the content already existed
    description: str | None = None  # this import's notes (what it assumed or was forced to)


def store_canonical(bars: pl.DataFrame, data_dir: str, filename: str) -> str:
    """Write canonical Parquet under `data_dir` (a directory or an object-store URI). Under
    a local directory the location returned is `filename`, relative to DATA_DIR (the
    worker resolves it there, worker/pipeline/roots.py), so the datasets move with it."""
    if "://" not in data_dir or data_dir.startswith("file://"):
        destination = Path(data_dir.removeprefix("file://")).expanduser().resolve() / filename
        if not destination.exists():
            write_canonical_parquet(bars, destination)
        return filename
    with tempfile.TemporaryDirectory() as scratch:
        local = write_canonical_parquet(bars, Path(scratch) / filename)
        return FileStore(data_dir).put(filename, local.read_bytes()).uri


def prepare_dataset(
    bars: pl.DataFrame,
    *,
    name: str,
    timeframe: str | None,
    data_dir: str,
    step: Step,
    force: bool = False,
    notes: Sequence[str] = (),
) -> DatasetCreate:
    """Hash canonical bars and write them under `data_dir` as `<hash>.parquet` (pure + file I/O).

    A `timeframe` that contradicts the bars' spacing is refused unless `force`, which the
    dataset's description records together with `notes` (e.g. a missing volume column)."""
    step("hashing")
    content_hash = canonical_hash(bars)
    summary = dataset_summary(bars)
    inferred = summary["timeframe"]
    chosen = timeframe or inferred
    if chosen is None:
        raise EngineInputError(
            "cannot infer the timeframe from the bars; pass --timeframe (e.g. 1d or 15m)",
            type="invalid_dataset",
        )
    said = list(notes)
    if timeframe and inferred and not same_timeframe(timeframe, inferred):
        if not force:
            raise EngineInputError(
                f"--timeframe {timeframe} contradicts the bars: their median spacing is"
                f" {inferred}, so every annualised figure would be wrong; pass --timeframe"
                f" {inferred} (or leave it out), or --force to keep {timeframe}",
                type="timeframe_mismatch",
                detail={"timeframe": timeframe, "inferred": inferred},
            )
        said.append(
            f"imported with --force: timeframe {timeframe}, the bars' spacing is {inferred}"
        )
    step("writing parquet")
    storage_uri = store_canonical(bars, data_dir, f"{content_hash}.parquet")
    return DatasetCreate(
        name=name,
        description="; ".join(said) or None,
        symbols=summary["symbols"],
        timeframe=chosen,
        start_date=summary["start"],
        end_date=summary["end"],
        row_count=summary["rows"],
        storage_uri=storage_uri,
        hash=content_hash,
    )


def same_timeframe(a: str, b: str) -> bool:
    """Same bar length (``1d`` and ``24h`` agree; months only with months)."""
    return parse_timeframe(a) == parse_timeframe(b) or (
        timeframe_delta(a) is not None and timeframe_delta(a) == timeframe_delta(b)
    )


async def register_dataset(session: AsyncSession, dataset: DatasetCreate) -> ImportedDataset:
    """Insert the row. The same content imported again keeps the existing row, its name and
    description, but takes the new location: re-importing repairs a moved DATA_DIR."""
    statement = insert(Dataset).values(**dataset.model_dump())
    row: Any = (
        await session.execute(
            statement.on_conflict_do_update(
                constraint="uq_datasets_hash",
                set_={"storage_uri": statement.excluded.storage_uri},
            ).returning(Dataset.id, Dataset.name, literal_column("xmax = 0").label("created"))
        )
    ).one()
    await session.commit()
    return ImportedDataset(
        row.id,
        bool(row.created),
        dataset.hash,
        dataset.storage_uri,
        dataset.row_count,
        dataset.symbols,
        row.name,
        dataset.description,
    )


async def import_dataset(
    session: AsyncSession,
    path: Path,
    *,
    name: str,
    timeframe: str | None,
    symbol: str | None,
    data_dir: str,
    step: Step = lambda _: None,
    force: bool = False,
    date_format: str | None = None,
) -> ImportedDataset:
    step("reading and validating")
    spec = prepare_dataset_file(
        path,
        name=name,
        timeframe=timeframe,
        symbol=symbol,
        data_dir=data_dir,
        step=step,
        force=force,
        date_format=date_format,
    )
    return await register_dataset(session, spec)


def prepare_dataset_file(
    path: Path,
    *,
    name: str,
    timeframe: str | None,
    symbol: str | None,
    data_dir: str,
    step: Step = lambda _: None,
    force: bool = False,
    date_format: str | None = None,
) -> DatasetCreate:
    """`prepare_dataset` of a CSV or Parquet file, with what reading it noticed (blocking)."""
    source = read_bars_source(path, symbol=symbol, date_format=date_format)
    return prepare_dataset(
        source.bars,
        name=name,
        timeframe=timeframe,
        data_dir=data_dir,
        step=step,
        force=force,
        notes=source.notes,
    )


async def list_datasets(session: AsyncSession) -> list[Dataset]:
    return list((await session.execute(select(Dataset).order_by(Dataset.created_at))).scalars())
