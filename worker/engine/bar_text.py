"""Reading the text of bars files: timestamps (formats, slashed dates read month-first or
day-first, or refused as ambiguous) and numbers; errors name the 1-based source row."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from worker.engine.errors import DatasetValidationError

ROW = "_row"  # 1-based data row number in the source file, kept until canonicalisation


def fail(rule: str, message: str, row: int | None = None, **extra: Any) -> DatasetValidationError:
    where = f"row {row}: " if row is not None else ""
    detail: dict[str, Any] = {"rule": rule, "row": row, **extra}
    return DatasetValidationError(f"{where}{message}", detail=detail)


def first_row(df: pl.DataFrame, mask: pl.Expr) -> int | None:
    hit = df.select(pl.col(ROW).filter(mask).first()).item()
    return None if hit is None else int(hit)


_AWARE_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d.%m.%Y",
)
_MONTH_FIRST = ("%m/%d/%Y", "%m/%d/%YT%H:%M:%S", "%m/%d/%YT%H:%M")
_DAY_FIRST = ("%d/%m/%Y", "%d/%m/%YT%H:%M:%S", "%d/%m/%YT%H:%M")


def _normal_text(col: pl.Expr) -> pl.Expr:
    return col.str.strip_chars().str.replace(r"Z$", "+00:00").str.replace(" ", "T")


def _any_of(text: pl.Expr, formats: tuple[str, ...]) -> pl.Expr:
    return pl.coalesce([text.str.to_datetime(f, strict=False, time_unit="us") for f in formats])


def _parse_text_timestamps(col: pl.Expr, slash: tuple[str, ...]) -> pl.Expr:
    """ISO 8601 with or without offset ('Z' too), date only, compact, d.m.Y and the chosen
    reading of slashed dates; the first format that parses a value wins. Naive UTC."""
    text = _normal_text(col)
    aware = text.str.to_datetime(_AWARE_FORMAT, strict=False, time_unit="us")
    candidates = [aware.dt.convert_time_zone("UTC").dt.replace_time_zone(None)]
    candidates += [_any_of(text, _NAIVE_FORMATS), _any_of(text, slash)]
    return pl.coalesce(candidates)


def _slash_reading(df: pl.DataFrame) -> tuple[str, ...]:
    """Month-first or day-first for slashed dates (``02/01/2015``): the one that reads every
    slashed value; when both do and they disagree somewhere, the file is ambiguous."""
    text = _normal_text(pl.col("timestamp"))
    slashed = df.select(pl.col(ROW), text.alias("t")).filter(
        pl.col("t").str.contains(r"^\d{1,2}/\d{1,2}/\d{4}")
    )
    if slashed.height == 0:
        return _MONTH_FIRST
    read = slashed.select(
        pl.col(ROW),
        pl.col("t"),
        m=_any_of(pl.col("t"), _MONTH_FIRST),
        d=_any_of(pl.col("t"), _DAY_FIRST),
    )
    month_ok = read["m"].null_count() == 0
    day_ok = read["d"].null_count() == 0
    if month_ok and day_ok:
        differ = read.filter(pl.col("m") != pl.col("d"))
        if differ.height:
            example = differ.row(0, named=True)
            raise fail(
                "ambiguous_dates",
                f"dates like {example['t']!r} read both month-first and day-first; pass"
                " --date-format %m/%d/%Y or --date-format %d/%m/%Y",
                int(example[ROW]),
                value=example["t"],
            )
    return _DAY_FIRST if day_ok and not month_ok else _MONTH_FIRST


def _parse_with_format(df: pl.DataFrame, date_format: str) -> pl.DataFrame:
    parsed = (
        pl.col("timestamp")
        .str.strip_chars()
        .str.to_datetime(date_format, strict=False, time_unit="us")
    )
    return df.with_columns(parsed.alias("__ts"))


def parse_timestamp(df: pl.DataFrame, date_format: str | None = None) -> pl.DataFrame:
    """Parse ``timestamp`` to Datetime(us, UTC); naive values are taken as UTC. Text is
    read with ``date_format`` (strftime) when given, else by the formats above."""
    dtype = df.schema["timestamp"]
    col = pl.col("timestamp")
    if dtype == pl.String:
        if date_format:
            out = _parse_with_format(df, date_format)
        else:
            out = df.with_columns(_parse_text_timestamps(col, _slash_reading(df)).alias("__ts"))
        bad = out.select(pl.col(ROW).filter(pl.col("__ts").is_null()).first()).item()
        if bad is not None:
            raw = out.filter(pl.col(ROW) == bad)["timestamp"][0]
            raise fail(
                "unparseable_timestamp", f"cannot parse timestamp {raw!r}", int(bad), value=raw
            )
        df = out.drop("timestamp").rename({"__ts": "timestamp"})
        dtype = df.schema["timestamp"]
    elif dtype.is_integer():
        # epoch numbers: pick the unit from the magnitude of the largest value
        biggest = df.select(col.abs().max()).item() or 0
        unit: Literal["s", "ms", "us"] = (
            "s" if biggest < 10**11 else "ms" if biggest < 10**14 else "us"
        )
        df = df.with_columns(pl.from_epoch(col.cast(pl.Int64), time_unit=unit).alias("timestamp"))
        dtype = df.schema["timestamp"]
    elif dtype == pl.Date:
        df = df.with_columns(col.cast(pl.Datetime("us")))
        dtype = df.schema["timestamp"]
    if not isinstance(dtype, pl.Datetime):
        raise fail("unparseable_timestamp", f"timestamp column has unsupported type {dtype}")
    if dtype.time_zone is None:
        df = df.with_columns(col.dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
    else:
        df = df.with_columns(col.dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    null_row = first_row(df, pl.col("timestamp").is_null())
    if null_row is not None:
        raise fail("missing_timestamp", "timestamp is empty", null_row)
    return df


def parse_numbers(df: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Parse the value ``columns`` to Float64 (text may carry thousands separators)."""
    for name in columns:
        if name not in df.columns:
            continue
        if df.schema[name] == pl.String:
            cleaned = pl.col(name).str.strip_chars().str.replace_all(",", "")
            parsed = cleaned.cast(pl.Float64, strict=False)
            bad = first_row(df, parsed.is_null() & cleaned.ne(""))
            if bad is not None:
                raw = df.filter(pl.col(ROW) == bad)[name][0]
                raise fail("not_a_number", f"{name} {raw!r} is not a number", bad, column=name)
            df = df.with_columns(parsed.alias(name))
        elif df.schema[name].is_numeric() or df.schema[name] == pl.Boolean:
            df = df.with_columns(pl.col(name).cast(pl.Float64))
        else:
            raise fail("not_a_number", f"column {name} has non-numeric type {df.schema[name]}")
    return df
