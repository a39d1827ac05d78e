"""Plain-SQL inserts of valid rows, as Node.js writes them; tests break one rule at a time."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

DATASET_SQL = """
INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count, storage_uri, hash)
VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz, $6, $7, $8)
RETURNING id
"""


async def insert_dataset(conn: asyncpg.Connection, **overrides: Any) -> uuid.UUID:
    row = {
        "name": "sample",
        "symbols": ["AAA"],
        "timeframe": "1d",
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-12-31T00:00:00Z",
        "row_count": 252,
        "storage_uri": "file:///data/sample.parquet",
        "hash": uuid.uuid4().hex + uuid.uuid4().hex,
        **overrides,
    }
    for key in ("start_date", "end_date"):
        if isinstance(row[key], str):
            row[key] = datetime.fromisoformat(row[key])
    return await conn.fetchval(DATASET_SQL, *row.values())  # type: ignore[no-any-return]


async def insert_strategy(conn: asyncpg.Connection, **overrides: Any) -> uuid.UUID:
    row = {
        "name": f"sma-{uuid.uuid4().hex[:6]}",
        "version": "1.0.0",
        "params": {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50},
        **overrides,
    }
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO strategies (name, version, params) VALUES ($1, $2, $3::jsonb) RETURNING id",
        row["name"],
        row["version"],
        json.dumps(row["params"]),
    )


async def insert_run(
    conn: asyncpg.Connection,
    dataset_id: uuid.UUID | None = None,
    strategy_id: uuid.UUID | None = None,
    initial_capital: float = 10_000,
) -> uuid.UUID:
    """The minimal insert the contract promises Node.js: ids and capital, nothing else."""
    dataset_id = dataset_id or await insert_dataset(conn)
    strategy_id = strategy_id or await insert_strategy(conn)
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital) VALUES ($1, $2, $3) RETURNING id",
        dataset_id,
        strategy_id,
        initial_capital,
    )
