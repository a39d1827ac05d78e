"""``parquet_join``: files of a table's consecutive columns joined into the bytes one writer
gives, and the files it cannot join exactly refused."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worker.results import artifacts, thrift_compact
from worker.results.parquet_join import column_halves, joined


def _curve(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(rows)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "timestamp": pl.datetime_range(
                start, start.replace(year=2034), "1m", time_zone="UTC", eager=True
            )[:rows],
            "equity": 1e4 + rng.normal(size=rows).cumsum(),
            "cash": np.repeat(rng.normal(size=-(-rows // 50)), 50)[:rows],
            "position_value": rng.normal(size=rows),
            "exposure": rng.random(rows),
            "drawdown": -rng.random(rows),
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))


def _joined_parquet(frame: pl.DataFrame) -> bytes:
    table = artifacts._required_where_full(frame.to_arrow())
    parts = [artifacts._parquet_of(table, part.column_names) for part in column_halves(table)]
    return joined(table.schema, parts)


@pytest.mark.parametrize("rows", [1, 3, 70_000, 200_000])
def test_joined_halves_are_the_file_one_writer_gives(rows: int) -> None:
    frame = _curve(rows)
    data = _joined_parquet(frame)
    assert data == artifacts._parquet(frame)
    assert pl.read_parquet(data).equals(frame)
    assert pq.read_table(pa.BufferReader(data)).equals(
        artifacts._required_where_full(frame.to_arrow())
    )


def test_joined_with_optional_columns_and_odd_halves() -> None:
    """A column with nulls (definition levels) and five columns (three and two)."""
    frame = (
        _curve(5_000)
        .drop("drawdown")
        .with_columns(
            pl.when(pl.int_range(pl.len()) % 7 == 0)
            .then(None)
            .otherwise(pl.col("cash"))
            .alias("cash")
        )
    )
    data = _joined_parquet(frame)
    assert data == artifacts._parquet(frame)
    assert pl.read_parquet(data).equals(frame)


def test_parts_it_cannot_join_exactly_are_refused() -> None:
    table = artifacts._required_where_full(_curve(1_000).to_arrow())
    halves = column_halves(table)

    def part(t: pa.Table, **options: object) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(t, sink, **options)  # type: ignore[arg-type]
        return bytes(sink.getvalue().to_pybytes())

    with pytest.raises(ValueError, match="row groups"):
        joined(table.schema, [part(t, row_group_size=400) for t in halves])
    with pytest.raises(ValueError, match="column index"):
        joined(table.schema, [part(t, write_page_index=True) for t in halves])
    with pytest.raises(ValueError, match="lengths"):
        joined(table.schema, [part(halves[0]), part(halves[1].slice(0, 10))])
    with pytest.raises(ValueError, match="not a Parquet file"):
        joined(table.schema, [b"PAR1 nothing", part(halves[1])])


def test_thrift_compact_reads_and_writes_back_the_same_bytes() -> None:
    data = artifacts._parquet(_curve(2_000))
    size = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - size : -8]
    assert thrift_compact.encode(thrift_compact.decode(footer)) == footer
    with pytest.raises(ValueError, match="after the struct"):
        thrift_compact.decode(footer + b"\x00")
