"""``csv_text.frame_csv`` writes the bytes polars' ``write_csv`` writes, on either path."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.results import csv_text
from worker.results.csv_text import PYTHON_ROWS, frame_csv

# Ties at the tenth decimal (k / 2048 has eleven), the largest and smallest doubles, -0.0
AWKWARD_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-4096, 4096).map(lambda k: k / 2048),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e22, 0.5, 2.5e-11]),
)
TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " padded ", "ü€"]),
)
START = datetime(1990, 1, 1, tzinfo=UTC)
TIMES = st.one_of(
    st.integers(0, 40 * 365 * 86_400).map(lambda s: START + timedelta(seconds=s)),
    st.integers(0, 40 * 365 * 86_400 * 10**6).map(lambda us: START + timedelta(microseconds=us)),
)


def by_polars(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, datetime_format=csv_text.DATETIME_FORMAT, float_precision=10)
    return buffer.getvalue()


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, PYTHON_ROWS))

    def column(values: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(st.one_of(st.none(), values), min_size=rows, max_size=rows))

    frame = pl.DataFrame(
        {
            "symbol": pl.Series(column(TEXTS), dtype=pl.String),
            "entry_time": pl.Series(column(TIMES), dtype=pl.Datetime("us", "UTC")),
            "price": pl.Series(column(AWKWARD_FLOATS), dtype=pl.Float64),
            "bars_held": pl.Series(column(st.integers(-(2**63), 2**63 - 1)), dtype=pl.Int64),
            "exit_time": pl.Series(column(TIMES), dtype=pl.Datetime("ns", "UTC")),
        }
    )
    return frame.select(draw(st.permutations(frame.columns)))


@settings(max_examples=300, deadline=None)
@given(frames())
def test_short_frames_are_written_as_polars_writes_them(frame: pl.DataFrame) -> None:
    assert frame_csv(frame) == by_polars(frame)


def test_a_trade_list_is_written_here_and_a_long_one_by_polars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both paths are taken where they should be, and a frame of another kind of column
    (a boolean) goes to polars."""
    calls: list[int] = []
    write_csv = pl.DataFrame.write_csv

    def counted(self: pl.DataFrame, *args: object, **kwargs: object) -> object:
        calls.append(self.height)
        return write_csv(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_csv", counted)
    trades = pl.DataFrame(
        {
            "symbol": ["AAA", "B,B"],
            "entry_time": [START, START + timedelta(days=1, microseconds=5)],
            "pnl": [1 / 2048, -0.0],
        }
    )
    long = pl.concat([trades] * (PYTHON_ROWS // 2 + 1))
    other = trades.with_columns(pl.lit(True).alias("flag"))
    for frame in (trades, long, other):
        out = frame_csv(frame)
        monkeypatch.setattr(pl.DataFrame, "write_csv", write_csv)
        assert out == by_polars(frame)
        monkeypatch.setattr(pl.DataFrame, "write_csv", counted)
    assert calls == [long.height, other.height]
