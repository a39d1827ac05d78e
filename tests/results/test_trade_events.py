"""The trade events' COPY rows written by orjson and Python against polars' own writer."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from worker.results.events import trade_event_frame, trade_events_csv
from worker.results.time_text import COPY_FORMAT

AWKWARD = [0.0, -0.0, 1e-5, 9.999999999999999e-6, 1e-7, 1e15, 1e16, 1e21, 5e-324, 1.5e308]
HOSTILE = ['A"B', "C,D", "E\\F", "é→·", "\x00\x1f\x7f", "tab\tnl\n", "</script>", "\u2028", ""]


def _polars_rows(run_id: uuid.UUID, trades: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    trade_event_frame(trades, run_id).write_csv(
        buffer, include_header=False, datetime_format=COPY_FORMAT
    )
    return buffer.getvalue()


def _awkward_trades(n: int, seed: int, *, nulls: bool, int_units: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def floats() -> list[float | None]:
        values = rng.standard_normal(n) * 10.0 ** rng.integers(-25, 25, n)
        out: list[float | None] = values.tolist()
        for k in rng.choice(n, size=min(n, 12), replace=False).tolist():
            out[k] = [*AWKWARD, float("nan"), float("inf"), -float("inf"), None][k % 14]
        return out if nulls else [0.5 if v is None else v for v in out]

    def texts() -> list[str | None]:
        out: list[str | None] = [HOSTILE[k] for k in rng.integers(0, len(HOSTILE), n)]
        if nulls:
            out[0] = None
        return out

    start = datetime(2024, 1, 1, tzinfo=UTC)
    entry = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 10**7, n)]
    held = rng.integers(0, 3, n) * rng.choice([1, 86_400, 3_600], n)
    units: list[int | None] | list[float | None] = (
        rng.integers(-5, 5, n).tolist() if int_units else floats()
    )
    if int_units and nulls:
        units[1] = None
    return pl.DataFrame(
        {
            "symbol": texts(),
            "side": texts(),
            "entry_time": entry,
            "entry_price": floats(),
            "exit_time": [t + timedelta(seconds=int(h)) for t, h in zip(entry, held, strict=True)],
            "exit_price": floats(),
            "units": units,
            "fees": floats(),
            "pnl": floats(),
            "return": floats(),
            "exit_reason": texts(),
        },
        schema_overrides={"units": pl.Int64 if int_units else pl.Float64},
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("int_units", [False, True])
def test_rows_written_by_orjson_are_polars_rows(seed: int, nulls: bool, int_units: bool) -> None:
    """Numbers of every magnitude, NaN, infinities and nulls, integer units, texts that
    need JSON and CSV escapes: the default rows are the event frame as polars writes it,
    and the native ones."""
    trades = _awkward_trades(500, seed, nulls=nulls, int_units=int_units)
    run_id = uuid.uuid4()
    reference = _polars_rows(run_id, trades)
    assert trade_events_csv(run_id, trades) == reference
    assert trade_events_csv(run_id, trades, native=True) == reference


def test_one_trade_and_other_number_types() -> None:
    """A single trade (one value per column, no comma to split at), and float32 prices,
    which orjson would write otherwise than polars (the rows come from the polars query)."""
    trades = _awkward_trades(1, 4, nulls=False, int_units=False)
    run_id = uuid.uuid4()
    assert trade_events_csv(run_id, trades) == _polars_rows(run_id, trades)
    narrow = _awkward_trades(50, 5, nulls=False, int_units=False).with_columns(
        pl.col("entry_price").cast(pl.Float32)
    )
    assert trade_events_csv(run_id, narrow) == _polars_rows(run_id, narrow)
