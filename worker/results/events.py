"""The run's event log: trade events built column-wise in polars, written with one COPY.

Event types and their payloads are documented in docs/contract.md. A trade is two events,
`trade_entry` and `trade_exit`, stamped with the bar's historical time; the exit carries the
round trip's fees, PnL and return. Writing them with `copy_records_to_table` inside the run's
fenced completion transaction means an attempt that lost its lease leaves no events behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import polars as pl

from worker.queue import jsonsafe

EVENT_COLUMNS = ("run_id", "event_type", "timestamp", "payload")
EventRecord = tuple[uuid.UUID, str, datetime | None, Any]


def trade_event_frame(trades: pl.DataFrame) -> pl.DataFrame:
    """Two rows per trade (entry, exit), ordered by time, payload as JSON text."""
    numbered = trades.with_row_index("trade", offset=1).with_columns(pl.col("trade").cast(pl.Int64))
    entries = numbered.select(
        pl.lit("trade_entry").alias("event_type"),
        pl.col("entry_time").alias("timestamp"),
        pl.struct(
            "trade",
            "symbol",
            "side",
            "units",
            pl.col("entry_price").alias("price"),
        )
        .struct.json_encode()
        .alias("payload"),
        pl.lit(1, dtype=pl.Int8).alias("order"),
    )
    exits = numbered.select(
        pl.lit("trade_exit").alias("event_type"),
        pl.col("exit_time").alias("timestamp"),
        pl.struct(
            "trade",
            "symbol",
            "side",
            "units",
            pl.col("exit_price").alias("price"),
            "fees",
            "pnl",
            "return",
            "exit_reason",
        )
        .struct.json_encode()
        .alias("payload"),
        pl.lit(0, dtype=pl.Int8).alias("order"),  # a reversal closes before it opens
    )
    return (
        pl.concat([entries, exits])
        .sort("timestamp", "order", maintain_order=True)
        .drop("order")
        # polars writes non-finite floats as NaN/inf tokens, which JSONB rejects.
        .with_columns(pl.col("payload").str.replace_all(r"-?\b(?:NaN|inf)\b", "null"))
    )


def trade_event_records(run_id: uuid.UUID, trades: pl.DataFrame) -> list[EventRecord]:
    frame = trade_event_frame(trades)
    return list(
        zip(
            [run_id] * frame.height,
            frame["event_type"].to_list(),
            frame["timestamp"].to_list(),
            [jsonsafe.RawJson(payload) for payload in frame["payload"].to_list()],
            strict=True,
        )
    )


def event_record(
    run_id: uuid.UUID, event_type: str, timestamp: datetime | None, payload: dict[str, Any]
) -> EventRecord:
    return (run_id, event_type, timestamp, payload)


async def copy_events(connection: asyncpg.Connection, records: Sequence[EventRecord]) -> int:
    """Append events with COPY (binary), far faster than INSERTs for large runs."""
    if not records:
        return 0
    await connection.copy_records_to_table("events", records=records, columns=list(EVENT_COLUMNS))
    return len(records)


def chunked(records: Sequence[EventRecord], size: int) -> Iterable[Sequence[EventRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]
