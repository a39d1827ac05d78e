"""A run's bars made ready for the simulation: checked, canonical, cut to the config's
window and symbols, the benchmark symbol split off, as ``MarketData``."""

from __future__ import annotations

import polars as pl

from worker.engine.bars import CANONICAL_COLUMNS, canonicalize, is_canonical
from worker.engine.benchmark import BenchmarkBars, split_benchmark, wanted_symbols
from worker.engine.errors import EngineInputError
from worker.engine.market import MarketData
from worker.engine.params import RunConfig


def prepare_bars(
    bars: pl.DataFrame, cfg: RunConfig, *, windowed: bool
) -> tuple[pl.DataFrame, BenchmarkBars | None]:
    """(the bars to trade, the benchmark symbol's bars): checked, canonical, windowed."""
    frame = _window(bars, cfg, windowed=windowed)
    traded, bench = split_benchmark(frame, cfg.symbols, cfg.benchmark)
    return _non_empty(traded, cfg), bench


def _window(bars: pl.DataFrame, cfg: RunConfig, *, windowed: bool) -> pl.DataFrame:
    if not isinstance(bars, pl.DataFrame):
        raise EngineInputError(
            f"bars must be a polars DataFrame, got {type(bars).__name__}", type="invalid_bars"
        )
    missing = [c for c in CANONICAL_COLUMNS if c not in bars.columns]
    if missing:
        raise EngineInputError(
            f"bars are missing column(s) {', '.join(missing)}",
            type="invalid_bars",
            detail={"missing": missing},
        )
    frame = bars if bars.columns == list(CANONICAL_COLUMNS) else bars.select(CANONICAL_COLUMNS)
    if not is_canonical(frame):
        try:
            frame = canonicalize(frame)
        except pl.exceptions.PolarsError as exc:
            raise EngineInputError(f"bars cannot be read: {exc}", type="invalid_bars") from None
    if windowed:
        return _non_empty(frame, cfg)
    symbols = wanted_symbols(cfg.symbols, cfg.benchmark)
    named = symbols if symbols is not None else [cfg.benchmark] if cfg.benchmark else []
    if named:
        present = set(frame["symbol"].unique().to_list())
        unknown = [s for s in named if s not in present]
        if unknown:
            raise EngineInputError(
                f"unknown symbol(s) {', '.join(unknown)}; the dataset has "
                f"{', '.join(sorted(present)[:20])}",
                type="unknown_symbol",
                detail={"unknown": unknown, "available": sorted(present)},
            )
    preds: list[pl.Expr] = []
    if symbols is not None:
        preds.append(pl.col("symbol").is_in(symbols))
    if cfg.start is not None:
        preds.append(pl.col("timestamp") >= cfg.start)
    if cfg.end is not None:
        preds.append(pl.col("timestamp") <= cfg.end)
    if preds:
        frame = frame.filter(pl.all_horizontal(preds))
    return _non_empty(frame, cfg)


def _non_empty(frame: pl.DataFrame, cfg: RunConfig) -> pl.DataFrame:
    if frame.height == 0:
        raise EngineInputError(
            "no bars in the requested window (check start, end and symbols)",
            type="empty_window",
            detail={
                "start": cfg.start.isoformat() if cfg.start else None,
                "end": cfg.end.isoformat() if cfg.end else None,
                "symbols": cfg.symbols,
            },
        )
    return frame


def market_data(frame: pl.DataFrame) -> MarketData:
    md = MarketData.from_frame(frame)
    if not md.ordered:
        md = MarketData.from_frame(frame.sort("symbol", "timestamp"))
        if not md.ordered:
            raise EngineInputError(
                "bars have duplicate timestamps for a symbol", type="invalid_bars"
            )
    return md


def run_market(
    bars: pl.DataFrame, cfg: RunConfig, *, windowed: bool
) -> tuple[MarketData, BenchmarkBars | None]:
    """The run's bars as arrays (``prepare_bars`` then ``market_data``), and the benchmark's."""
    traded, bench = prepare_bars(bars, cfg, windowed=windowed)
    return market_data(traded), bench
