"""Importing bars files as datasets: validate, canonicalise, hash, store as Parquet, register."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from worker.db import Dataset
from worker.engine.bars import (
    canonical_hash,
    dataset_summary,
    read_bars_file,
    write_canonical_parquet,
)
from worker.engine.errors import EngineInputError
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


def store_canonical(bars: pl.DataFrame, data_dir: str, filename: str) -> str:
    """Write canonical Parquet under `data_dir` (a directory or an object-store URI)."""
    if "://" not in data_dir or data_dir.startswith("file://"):
        destination = Path(data_dir.removeprefix("file://")).expanduser().resolve() / filename
        if not destination.exists():
            write_canonical_parquet(bars, destination)
        return str(destination)
    with tempfile.TemporaryDirectory() as scratch:
        local = write_canonical_parquet(bars, Path(scratch) / filename)
        return FileStore(data_dir).put(filename, local.read_bytes()).uri


def prepare_dataset(
    bars: pl.DataFrame, *, name: str, timeframe: str | None, data_dir: str, step: Step
) -> DatasetCreate:
    """Hash canonical bars and write them under `data_dir` as `<hash>.parquet` (pure + file I/O)."""
    step("hashing")
    content_hash = canonical_hash(bars)
    summary = dataset_summary(bars)
    chosen = timeframe or summary["timeframe"]
    if chosen is None:
        raise EngineInputError(
            "cannot infer the timeframe from the bars; pass --timeframe (e.g. 1d or 15m)",
            type="invalid_dataset",
        )
    step("writing parquet")
    storage_uri = store_canonical(bars, data_dir, f"{content_hash}.parquet")
    return DatasetCreate(
        name=name,
        symbols=summary["symbols"],
        timeframe=chosen,
        start_date=summary["start"],
        end_date=summary["end"],
        row_count=summary["rows"],
        storage_uri=storage_uri,
        hash=content_hash,
    )


async def register_dataset(session: AsyncSession, dataset: DatasetCreate) -> ImportedDataset:
    """Insert the row; the same content imported again returns the existing row."""
    inserted = await session.execute(
        insert(Dataset)
        .values(**dataset.model_dump())
        .on_conflict_do_nothing(constraint="uq_datasets_hash")
        .returning(Dataset.id)
    )
    new_id = inserted.scalar_one_or_none()
    created = new_id is not None
    if new_id is None:
        new_id = (
            await session.execute(select(Dataset.id).where(Dataset.hash == dataset.hash))
        ).scalar_one()
    await session.commit()
    return ImportedDataset(
        new_id, created, dataset.hash, dataset.storage_uri, dataset.row_count, dataset.symbols
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
) -> ImportedDataset:
    step("reading and validating")
    bars = read_bars_file(path, symbol=symbol)
    return await register_dataset(
        session, prepare_dataset(bars, name=name, timeframe=timeframe, data_dir=data_dir, step=step)
    )


async def list_datasets(session: AsyncSession) -> list[Dataset]:
    return list((await session.execute(select(Dataset).order_by(Dataset.created_at))).scalars())
