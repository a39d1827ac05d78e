"""Bar files: reading CSV or Parquet exports (any common column spelling) into canonical
bars, and loading a run's window of a canonical file.

Parsing of text cells is ``bar_text``; the rules and the canonical form are ``bars``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from worker.engine.bar_text import ROW, fail, parse_numbers, parse_timestamp
from worker.engine.bars import (
    PRICE_COLUMNS,
    VALUE_COLUMNS,
    canonicalize,
    is_canonical,
    validate_bars,
)
from worker.engine.errors import EngineInputError

_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "date", "datetime", "time", "ts", "date_time", "open_time"),
    "symbol": ("symbol", "ticker", "sym", "instrument", "asset"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last", "price"),
    "volume": ("volume", "vol", "v"),
}
_IGNORED = ("adj close", "adj_close", "adjclose", "adjusted_close")


def file_sha256(path: str | Path) -> str:
    """SHA-256 (lowercase hex) of a file's raw bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _join_date_and_time(df: pl.DataFrame) -> pl.DataFrame:
    """Intraday exports often split the stamp into ``Date`` and ``Time``: join them."""
    lower = {c.strip().lower(): c for c in df.columns}
    if "date" in lower and "time" in lower and not {"timestamp", "datetime"} & set(lower):
        date, time_ = lower["date"], lower["time"]
        joined = pl.concat_str(
            [pl.col(date).cast(pl.String), pl.col(time_).cast(pl.String)], separator=" "
        )
        df = df.with_columns(joined.alias(date)).drop(time_)
    return df


def _normalise_names(df: pl.DataFrame) -> pl.DataFrame:
    """Rename the common spellings of OHLCV columns to canonical names."""
    df = _join_date_and_time(df)
    rename: dict[str, str] = {}
    taken: set[str] = set()
    for col in df.columns:
        key = col.strip().lower()
        if key in _IGNORED or col == ROW:
            continue
        for canonical, spellings in _ALIASES.items():
            if key in spellings and canonical not in taken:
                rename[col] = canonical
                taken.add(canonical)
                break
    keep = [*rename, *([ROW] if ROW in df.columns else [])]
    return df.select(keep).rename(rename)


@dataclass(frozen=True)
class BarsSource:
    """Canonical bars read from a file, with what the reader had to assume (``notes``)."""

    bars: pl.DataFrame
    volume_missing: bool = False

    @property
    def notes(self) -> list[str]:
        if self.volume_missing:
            return ["the file has no volume column: volume is 0 on every bar"]
        return []


def read_bars_file(
    path: str | Path, symbol: str | None = None, date_format: str | None = None
) -> pl.DataFrame:
    """Read a CSV or Parquet bars file, normalise column names, parse, validate, canonicalise.

    A file without a symbol column takes ``symbol``; a file with one ignores ``symbol`` only
    if they agree (a mismatch is an error). Raises :class:`DatasetValidationError` naming the
    1-based data row and the rule broken.
    """
    return read_bars_source(path, symbol, date_format).bars


def read_bars_source(
    path: str | Path, symbol: str | None = None, date_format: str | None = None
) -> BarsSource:
    """``read_bars_file`` that also says what it assumed (a missing volume column)."""
    p = Path(path)
    if not p.exists():
        raise EngineInputError(f"bars file {str(p)!r} does not exist", type="dataset_not_found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            raw = pl.read_parquet(p)
        elif suffix in (".csv", ".txt", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            raw = pl.read_csv(p, infer_schema=False, separator=sep, truncate_ragged_lines=True)
        else:
            raise fail("unsupported_format", f"unsupported file type {suffix!r} (csv or parquet)")
    except (pl.exceptions.PolarsError, OSError) as exc:
        if isinstance(exc, pl.exceptions.NoDataError):
            raise fail("empty_file", "the file is empty") from exc
        raise fail("unreadable_file", f"cannot read {p.name}: {exc}") from exc
    return parse_bars_source(raw, symbol, date_format)


def parse_bars(raw: pl.DataFrame, symbol: str | None = None) -> pl.DataFrame:
    """Turn a raw frame (any common column spelling, string or typed) into canonical bars."""
    return parse_bars_source(raw, symbol).bars


def parse_bars_source(
    raw: pl.DataFrame, symbol: str | None = None, date_format: str | None = None
) -> BarsSource:
    if raw.height == 0:
        raise fail("empty_file", "the file has no data rows")
    df = _normalise_names(raw.with_row_index(ROW, offset=1))
    required = ("timestamp", *PRICE_COLUMNS)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise fail(
            "missing_columns",
            f"missing column(s) {', '.join(missing)}; found {', '.join(raw.columns)}",
            missing=missing,
            found=list(raw.columns),
        )
    if "symbol" not in df.columns:
        if not symbol:
            raise fail(
                "missing_symbol", "the file has no symbol/ticker column and no symbol was given"
            )
        df = df.with_columns(pl.lit(symbol).alias("symbol"))
    df = df.with_columns(pl.col("symbol").cast(pl.String).str.strip_chars().str.to_uppercase())
    volume_missing = "volume" not in df.columns
    if volume_missing:
        df = df.with_columns(pl.lit(0.0).alias("volume"))
    df = parse_timestamp(df, date_format)
    df = parse_numbers(df, VALUE_COLUMNS)
    validate_bars(df)
    return BarsSource(canonicalize(df), volume_missing)


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_bars(
    uri_or_path: str | Path,
    *,
    symbols: Iterable[str] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
) -> pl.DataFrame:
    """Load canonical bars; Parquet is scanned lazily so only the asked symbols and window
    are read (predicate pushdown on row-group statistics). ``end`` is inclusive."""
    text = str(uri_or_path)
    path = Path(text.removeprefix("file://"))
    if not path.exists():
        raise EngineInputError(f"dataset file {text!r} does not exist", type="dataset_not_found")
    lo, hi = _utc(start), _utc(end)
    if path.suffix.lower() in (".parquet", ".pq"):
        lf = pl.scan_parquet(path)
    else:
        lf = read_bars_file(path).lazy()
    preds: list[pl.Expr] = []
    if symbols is not None:
        wanted = sorted({s.strip().upper() for s in symbols})
        preds.append(pl.col("symbol").is_in(wanted))
    if lo is not None:
        preds.append(pl.col("timestamp") >= lo)
    if hi is not None:
        preds.append(pl.col("timestamp") <= hi)
    if preds:
        lf = lf.filter(pl.all_horizontal(preds))
    df = lf.collect()
    return df if is_canonical(df) else canonicalize(df)
