"""The run's event log: trade events built column by column, written with one COPY.

Event types and their payloads are documented in docs/contract.md. A trade is two events,
`trade_entry` and `trade_exit`, stamped with the bar's historical time; the exit carries the
round trip's fees, PnL and return. The queue's completer COPYs them inside the run's fenced
completion transaction, so an attempt that lost its lease leaves no events behind.
"""

from __future__ import annotations

import uuid
from functools import cache

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl

from worker.results.time_text import COPY_FORMAT, time_texts
from worker.schemas.event import COPY_COLUMNS

# polars writes non-finite floats as NaN/inf tokens, which JSONB rejects.
_NON_FINITE = r"-?\b(?:NaN|inf)\b"


def _payload_texts(trades: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """Each trade's entry and exit payloads as JSON text."""
    return _payload_exprs(_all_finite(trades))


@cache
def _payload_exprs(finite: bool) -> tuple[pl.Expr, pl.Expr]:
    """The payload expressions, made once per process for each case (they do not depend on
    the trades: the numbering counts the frame's rows): building them in Python took a third
    of the payloads' query on a run of 349 trades."""
    number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("trade")
    entry = pl.struct(number, "symbol", "side", "units", pl.col("entry_price").alias("price"))
    exit_ = pl.struct(
        number,
        "symbol",
        "side",
        "units",
        pl.col("exit_price").alias("price"),
        "fees",
        "pnl",
        "return",
        "exit_reason",
    )

    def text(payload: pl.Expr) -> pl.Expr:
        json = payload.struct.json_encode()
        if not finite:
            json = json.str.replace_all(_NON_FINITE, "null")
        return json

    return text(entry), text(exit_)


def _payloads(trades: pl.DataFrame) -> pl.DataFrame:
    """Each trade's times and its entry and exit payloads as JSON text."""
    entry, exit_ = _payload_texts(trades)
    return trades.select("entry_time", entry.alias("entry"), "exit_time", exit_.alias("exit"))


def _event_order(trades: pl.DataFrame) -> npt.NDArray[np.int64]:
    """Positions into (every entry, then every exit) in event order: by time; within one
    timestamp, exits of trades opened earlier first (a reversal closes before it opens),
    then entries, then exits of trades opened at that same timestamp (a trade stopped out
    on its entry bar is entered before it is left); then by trade."""
    n = trades.height
    entry, exit_ = trades["entry_time"].to_numpy(), trades["exit_time"].to_numpy()
    order = np.concatenate([np.ones(n, np.int8), np.where(exit_ == entry, 2, 0).astype(np.int8)])
    trade = np.tile(np.arange(n), 2)
    # a missing time (NaT, the smallest int64) sorts first, as polars sorts nulls
    times = np.concatenate([entry, exit_]).view(np.int64)
    positions: npt.NDArray[np.int64] = np.lexsort((trade, order, times))
    return positions


def trade_event_frame(trades: pl.DataFrame, run_id: uuid.UUID | None = None) -> pl.DataFrame:
    """Two rows per trade (entry, exit), in event order (`_event_order`), payload as JSON
    text; with ``run_id``, led by a ``run_id`` column (the rows of ``COPY_COLUMNS``)."""
    n = trades.height
    parts = _payloads(trades)
    events = pl.DataFrame(
        {
            "event_type": ["trade_entry"] * n + ["trade_exit"] * n,
            "timestamp": pl.concat([parts["entry_time"], parts["exit_time"]]),
            "payload": pl.concat([parts["entry"], parts["exit"]]),
        }
    )[_event_order(trades)]
    if run_id is None:
        return events
    return events.select(pl.lit(str(run_id)).alias("run_id"), pl.all())


def _all_finite(trades: pl.DataFrame) -> bool:
    """Whether no float in the payloads is NaN or infinite (then no token needs replacing:
    the replacement scans every payload, a tenth of the work on long runs)."""
    return all(
        bool(np.isfinite(trades[name].to_numpy()).all())
        for name, dtype in trades.schema.items()
        if dtype.is_float()
    )


def trade_events_csv(run_id: uuid.UUID, trades: pl.DataFrame, *, native: bool = False) -> bytes:
    """The trade events as CSV rows for COPY, in COPY_COLUMNS order, in event order; the
    bytes polars' ``write_csv`` writes for ``trade_event_frame``, without a CSV writer
    (whose fixed cost was a third of the work on a daily run).

    Two ways to the same bytes (tested equal): by default each column is encoded once by
    orjson and Python writes the lines, payloads included, with their quotes already doubled
    (no query, the least fixed cost, for the run's own thread); ``native`` builds, orders and
    joins the lines in one polars query, with the GIL released, for a side thread beside the
    reports (and 1M-bar runs' thousands of trades).
    """
    assert COPY_COLUMNS == ("run_id", "event_type", "timestamp", "payload")
    schema = trades.schema
    if native or any(schema[name] not in _ENCODED for name in _NUMBER_FIELDS):
        return _native_lines(run_id, trades)
    if trades.height == 0:
        return b""
    numbers = {name: _json_numbers(trades[name]) for name in _NUMBER_FIELDS}
    symbol, side, reason = (_json_strings(trades[name]) for name in _STRING_FIELDS)
    units, fees, pnl, returns = numbers["units"], numbers["fees"], numbers["pnl"], numbers["return"]
    entry_head, exit_head = f"{run_id},trade_entry,", f"{run_id},trade_exit,"
    lines = [
        f'{entry_head}{at},"{{""trade"":{k + 1},""symbol"":{symbol[k]},""side"":{side[k]},'
        f'""units"":{units[k]},""price"":{price}}}"\n'
        for k, (at, price) in enumerate(
            zip(time_texts(trades["entry_time"], COPY_FORMAT), numbers["entry_price"], strict=True)
        )
    ]
    lines += [
        f'{exit_head}{at},"{{""trade"":{k + 1},""symbol"":{symbol[k]},""side"":{side[k]},'
        f'""units"":{units[k]},""price"":{price},""fees"":{fees[k]},""pnl"":{pnl[k]},'
        f'""return"":{returns[k]},""exit_reason"":{reason[k]}}}"\n'
        for k, (at, price) in enumerate(
            zip(time_texts(trades["exit_time"], COPY_FORMAT), numbers["exit_price"], strict=True)
        )
    ]
    return "".join([lines[i] for i in _event_order(trades).tolist()]).encode()


_NUMBER_FIELDS = ("units", "entry_price", "exit_price", "fees", "pnl", "return")
_STRING_FIELDS = ("symbol", "side", "exit_reason")
_ENCODED = (pl.Float64, pl.Int64)  # the number types orjson writes as polars does


def _json_numbers(column: pl.Series) -> list[str]:
    """Each value as JSON text, as polars' ``json_encode`` writes it (orjson writes numbers
    the same way, tested on 400,000 awkward floats; NaN and infinities as null, as the
    payloads have them): one encoding of the column, split at the commas."""
    full = column.null_count() == 0
    values = column.to_numpy() if full else column.to_list()
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")


def _json_strings(column: pl.Series) -> list[str]:
    """Each value as JSON text with its quotes doubled for the CSV field; a column holds
    few distinct texts (symbols, sides, exit reasons), each encoded once."""
    values = column.to_list()
    texts = {value: orjson.dumps(value).decode().replace('"', '""') for value in set(values)}
    return [texts[value] for value in values]


def _native_lines(run_id: uuid.UUID, trades: pl.DataFrame) -> bytes:
    """The lines built, put in event order and joined by one polars query (times, payloads
    with their quotes doubled, the quoting marks): Python holds the GIL only to take the one
    text out, so the reports drawn beside it on the run's thread do not wait for it."""
    if trades.height == 0:
        return b""
    entry, exit_ = _payload_texts(trades)

    def line(kind: str, time: str, payload: pl.Expr) -> pl.Expr:
        return pl.concat_str(
            pl.lit(f"{run_id},{kind},"),
            pl.col(time).dt.to_string(COPY_FORMAT).fill_null(""),
            pl.lit(',"'),
            payload.str.replace_all('"', '""', literal=True),
            pl.lit('"\n'),
        )

    lines = pl.concat(
        [line("trade_entry", "entry_time", entry), line("trade_exit", "exit_time", exit_)]
    )
    order = pl.Series(_event_order(trades))
    text: str = trades.select(lines.gather(order).str.join("")).item()
    return text.encode()
