"""Bars: the canonical schema, the bar rules, canonical form, content hashing, summaries.

Reading and loading files is ``bar_files``.

Canonical bars are one row per (symbol, timestamp) with exactly these columns and dtypes,
sorted by symbol then timestamp, symbols upper-case::

    timestamp  Datetime("us", "UTC")
    symbol     String
    open, high, low, close, volume  Float64
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from worker.engine.bar_text import ROW, fail, first_row

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
CANONICAL_COLUMNS = ("timestamp", "symbol", *VALUE_COLUMNS)
CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "symbol": pl.String(),
    **{c: pl.Float64() for c in VALUE_COLUMNS},
}
HASH_FORMAT = b"aitradepro-bars-v1\n"


def validate_bars(df: pl.DataFrame) -> None:
    """Check the bar rules; the first violation raises, naming its row (column ``_row`` if
    present, else the 1-based position) and the rule."""
    if df.height == 0:
        raise fail("empty_file", "there are no bars")
    missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
    if missing:
        raise fail("missing_columns", f"missing column(s) {', '.join(missing)}", missing=missing)
    if ROW not in df.columns:
        df = df.with_row_index(ROW, offset=1)
    sym_row = first_row(df, pl.col("symbol").is_null() | (pl.col("symbol") == ""))
    if sym_row is not None:
        raise fail("missing_symbol", "symbol is empty", sym_row)
    ts_row = first_row(df, pl.col("timestamp").is_null())
    if ts_row is not None:
        raise fail("missing_timestamp", "timestamp is empty", ts_row)
    for name in PRICE_COLUMNS:
        c = pl.col(name)
        row = first_row(df, c.is_null() | c.is_nan())
        if row is not None:
            raise fail("missing_price", f"{name} is missing or NaN", row, column=name)
        row = first_row(df, c.is_infinite() | (c <= 0))
        if row is not None:
            value = df.filter(pl.col(ROW) == row)[name][0]
            raise fail("non_positive_price", f"{name} must be a positive number, got {value}", row)
    vol = pl.col("volume")
    row = first_row(df, vol.is_null() | vol.is_nan() | vol.is_infinite() | (vol < 0))
    if row is not None:
        raise fail("invalid_volume", "volume must be a finite number >= 0", row)
    o, h, low, c = (pl.col(n) for n in PRICE_COLUMNS)
    row = first_row(df, (h < o) | (h < c) | (h < low))
    if row is not None:
        raise fail("high_below_open_close", "high is below open, close or low", row)
    row = first_row(df, (low > o) | (low > c))
    if row is not None:
        raise fail("low_above_open_close", "low is above open or close", row)
    dup = df.select(pl.col(ROW).filter(pl.struct("symbol", "timestamp").is_duplicated()))[ROW]
    if dup.len():
        # name the later of the first duplicated pair: that is the row to delete
        first = df.filter(pl.col(ROW).is_in(dup.implode())).sort(ROW)
        key = first.row(0, named=True)
        twin = first.filter(
            (pl.col("symbol") == key["symbol"]) & (pl.col("timestamp") == key["timestamp"])
        )
        rows = twin[ROW].to_list()
        raise fail(
            "duplicate_timestamp",
            f"duplicate timestamp {key['timestamp'].isoformat()} for {key['symbol']} "
            f"(also row {rows[0]})",
            int(rows[1]),
            symbol=key["symbol"],
        )


def canonicalize(df: pl.DataFrame) -> pl.DataFrame:
    """Exact canonical dtypes, upper-case symbols, sorted by symbol then timestamp."""
    ts = pl.col("timestamp")
    ts_dtype = df.schema.get("timestamp")
    if isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone is None:
        ts = ts.dt.replace_time_zone("UTC")
    elif isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone != "UTC":
        ts = ts.dt.convert_time_zone("UTC")
    exprs = [
        ts.dt.cast_time_unit("us").alias("timestamp"),
        pl.col("symbol").cast(pl.String).str.strip_chars().str.to_uppercase(),
        *(pl.col(c).cast(pl.Float64) for c in VALUE_COLUMNS),
    ]
    return df.select(exprs).sort("symbol", "timestamp", maintain_order=True)


def is_canonical(df: pl.DataFrame) -> bool:
    return dict(df.schema) == CANONICAL_SCHEMA


def canonical_hash(df: pl.DataFrame) -> str:
    """SHA-256 (lowercase hex) of a defined byte serialisation of the canonical bars.

    Independent of file format and Parquet writer: ``HASH_FORMAT``, then the row count as
    little-endian uint64, then per symbol in order (UTF-8 length as uint32 LE, the bytes,
    row count as uint64 LE), then the columns timestamp (int64 µs since epoch), open, high,
    low, close, volume (IEEE-754 float64), each little-endian and contiguous; ``-0.0`` is
    written as ``0.0``.
    """
    canon = canonicalize(df)  # always: sort order is part of the canonical content
    digest = hashlib.sha256(HASH_FORMAT)
    digest.update(np.uint64(canon.height).astype("<u8").tobytes())
    counts = canon.group_by("symbol", maintain_order=True).len()
    for sym, n in counts.iter_rows():
        raw = str(sym).encode()
        digest.update(np.uint32(len(raw)).astype("<u4").tobytes() + raw)
        digest.update(np.uint64(n).astype("<u8").tobytes())
    ts = canon["timestamp"].dt.epoch("us").to_numpy().astype("<i8", copy=False)
    digest.update(np.ascontiguousarray(ts).tobytes())
    for name in VALUE_COLUMNS:
        values = canon[name].to_numpy().astype("<f8") + 0.0  # -0.0 -> 0.0
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def write_canonical_parquet(df: pl.DataFrame, dest_path: str | Path) -> Path:
    """Write canonical bars to Parquet atomically (temp file then rename); zstd, statistics on,
    row groups of 128k rows so predicate pushdown can skip symbols and dates."""
    canon = canonicalize(df)
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        canon.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=131_072)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def infer_timeframe(df: pl.DataFrame) -> str | None:
    """Guess the bar interval from the median gap between consecutive bars of a symbol."""
    gaps = df.select(pl.col("timestamp").diff().over("symbol").dt.total_seconds().median())
    sec = gaps.item()
    if sec is None:
        return None
    sec = float(sec)
    if sec >= 25 * 86400:
        return "1M"
    if sec >= 6 * 86400:
        return "1w"
    if sec >= 20 * 3600:
        return "1d"
    if sec >= 3600:
        return f"{round(sec / 3600)}h"
    if sec >= 60:
        return f"{round(sec / 60)}m"
    return f"{max(round(sec), 1)}s"


def dataset_summary(df: pl.DataFrame) -> dict[str, Any]:
    """Symbols, first and last timestamp, row count and guessed timeframe of canonical bars."""
    symbols = sorted(df["symbol"].unique().to_list())
    start = df["timestamp"].min()
    end = df["timestamp"].max()
    return {
        "symbols": symbols,
        "start": start,
        "end": end,
        "rows": df.height,
        "timeframe": infer_timeframe(df),
    }
