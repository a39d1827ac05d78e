"""The engine's narrow entry point, called by the queue worker.

``run_backtest`` is pure: DataFrames and dicts in, a :class:`BacktestResult` out. The worker
splits it in two, so that a run's inputs are validated once, before its bars are loaded:
``parse_run`` (dicts in, a :class:`RunSpec` out) and ``simulate_run`` (bars and spec in). Bad input
raises :class:`~worker.engine.errors.EngineInputError`; ``should_cancel()`` returning True
raises :class:`~worker.engine.errors.RunCancelled`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from worker.engine.analysis import Analysis, analyse, benchmark_metrics
from worker.engine.benchmark import BenchmarkBars, symbol_curve
from worker.engine.beside import Beside, beside
from worker.engine.crossover_fills import crossover_fills
from worker.engine.errors import EngineError, EngineInputError, RunCancelled
from worker.engine.frames import (
    buy_and_hold_paths,
    equity_frame,
    trade_rows,
    trades_frame,
    utc_timestamps,
)
from worker.engine.market import MarketData
from worker.engine.metrics import Metric
from worker.engine.params import RunConfig, parse_run_config
from worker.engine.portfolio import Fills
from worker.engine.run_bars import run_market
from worker.engine.simulate import TradePass, simulate, sized_fills, trade_pass
from worker.engine.stages import Cancel, Progress, Stages
from worker.engine.strategies import Strategy, parse_strategy, strategy_class
from worker.engine.timeframes import periods_per_year

if TYPE_CHECKING:
    from worker.engine.folds import ChunkResult
    from worker.engine.walk_forward import WalkForward

#: Bump whenever any number the engine produces could change.
ENGINE_VERSION = "1.5.1"

# One symbol's run of this many bars or more puts three pieces of its work on the ``beside``
# thread; a shorter one does them inline: on 250 daily bars, two runs at a time in one
# process (a worker's default), the hand-offs cost more than they overlap (CPU per run
# 1.9-2.2 ms inline against 2.8-2.9 ms; docs/engine.md).
BESIDE_MIN_BARS = 10_000

__all__ = [
    "ENGINE_VERSION",
    "BacktestResult",
    "EngineError",
    "EngineInputError",
    "RunCancelled",
    "RunSpec",
    "parse_run",
    "run_backtest",
    "simulate_run",
]


@dataclass(frozen=True)
class BacktestResult:
    metrics: dict[str, Metric]
    equity: pl.DataFrame
    trades: pl.DataFrame
    resolved_config: dict[str, Any]
    strategy: dict[str, Any]
    leaderboard: pl.DataFrame | None = None
    best_params: dict[str, Any] | None = None
    grid_summary: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    engine_version: str = ENGINE_VERSION
    #: Value of the initial capital bought equally into the run's symbols at their first
    #: close and held (no costs), at each bar of ``equity``; ends at
    #: ``initial_capital · (1 + metrics["buy_and_hold_return"])``.
    buy_and_hold: pl.Series | None = None
    #: Walk-forward runs: per-fold table, in-sample curve and degradation summary; the
    #: equity, trades and metrics above are then the stitched out-of-sample ones.
    walk_forward: WalkForward | None = None
    #: The value of the run's benchmark at each bar of ``equity``: ``buy_and_hold``, or the
    #: ``config.benchmark`` symbol bought with the initial capital at its first close.
    benchmark: pl.Series | None = None
    #: Drawdown periods, monthly and yearly returns (of the run and of its benchmark).
    analysis: Analysis | None = None


def _iso(ts_us: int) -> str:
    return utc_timestamps(np.array([ts_us]))[0].isoformat()  # type: ignore[no-any-return]


def resolve_config(
    cfg: RunConfig, md: MarketData, *, size: float, ppy: float, timeframe: str, capital: float
) -> dict[str, Any]:
    out = cfg.model_dump(mode="json")
    out.update(
        position_size=size,
        periods_per_year=ppy,
        symbols=list(md.symbols),
        start=out["start"] or _iso(int(md.grid_ts[0])),
        end=out["end"] or _iso(int(md.grid_ts[-1])),
        timeframe=timeframe,
        initial_capital=capital,
    )
    return out


@dataclass(frozen=True)
class RunSpec:
    """A backtest's inputs, validated once: the config, and the strategy (or, for a grid,
    its class, since each combination is validated on its own)."""

    config: RunConfig
    strategy_params: dict[str, Any]
    strategy: Strategy | None
    initial_capital: float


def parse_run(
    strategy_params: dict[str, Any], run_config: dict[str, Any], *, initial_capital: float
) -> RunSpec:
    """Validate a run's strategy, config and capital; EngineInputError when they are bad."""
    if not (isinstance(initial_capital, int | float) and math.isfinite(initial_capital)):
        raise EngineInputError("initial_capital must be a finite number", type="invalid_config")
    if initial_capital <= 0:
        raise EngineInputError("initial_capital must be positive", type="invalid_config")
    cfg = parse_run_config(run_config)
    _check_order_levels(strategy_params, cfg)
    if cfg.grid:
        strategy_class(strategy_params, cfg.params)
        strategy = None
    else:
        strategy = parse_strategy(strategy_params, cfg.params)
    return RunSpec(cfg, strategy_params, strategy, float(initial_capital))


_LEVEL_KEYS = ("entry_long_level", "entry_short_level")


def _check_order_levels(strategy_params: dict[str, Any], cfg: RunConfig) -> None:
    """A ``rules`` strategy's order levels need limit/stop entries, and leave no offset
    unused (the other settings of orders are the config's: parse_run_config checks them)."""
    merged = {**strategy_params, **cfg.params}
    named = [k for k in _LEVEL_KEYS if merged.get(k) is not None or k in (cfg.grid or {})]
    if named and cfg.entry_order == "market":
        raise EngineInputError(
            f"{' and '.join(named)} price entry orders: set entry_order to 'limit' or 'stop'",
            type="invalid_config",
        )
    if len(named) == len(_LEVEL_KEYS) and cfg.entry_offset:
        raise EngineInputError(
            "entry_offset is unused when entry_long_level and entry_short_level are both set",
            type="invalid_config",
        )


def run_backtest(
    bars: pl.DataFrame,
    strategy_params: dict[str, Any],
    run_config: dict[str, Any],
    *,
    initial_capital: float,
    timeframe: str,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    threads: int | None = None,
) -> BacktestResult:
    """Run one backtest (or a parameter grid when ``run_config["grid"]`` is set)."""
    spec = parse_run(strategy_params, run_config, initial_capital=initial_capital)
    return simulate_run(
        bars,
        spec,
        timeframe=timeframe,
        progress=progress,
        should_cancel=should_cancel,
        threads=threads,
    )


def simulate_run(
    bars: pl.DataFrame,
    spec: RunSpec,
    *,
    timeframe: str,
    windowed: bool = False,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    chunks: Sequence[ChunkResult] | None = None,
    threads: int | None = None,
) -> BacktestResult:
    """Run a validated backtest. ``windowed``: the bars are already restricted to the
    config's symbols and window (``load_bars`` did it), so they are not filtered again.
    ``chunks``: the grid's combinations already evaluated by a sweep's children, in chunk
    order: they are ranked as the grid (or, walking forward, each window's grid) would rank
    its own, and only the best is run. ``threads``: how many threads a grid's combinations
    share (default ``grid.DEFAULT_THREADS``); the numbers do not depend on it."""
    stages = Stages(progress, should_cancel)
    stages.check()
    cfg, capital = spec.config, spec.initial_capital
    ppy = cfg.periods_per_year or periods_per_year(timeframe, cfg.calendar)
    md, bench = run_market(bars, cfg, windowed=windowed)
    stages.report("load", 1.0)
    stages.done("load")
    if cfg.walk_forward is not None:
        return _walk_forward_result(
            md, bench, spec, stages, ppy=ppy, timeframe=timeframe, chunks=chunks, threads=threads
        )

    strategy = spec.strategy
    overfitting: dict[str, float | None] = {}
    leaderboard: pl.DataFrame | None = None
    best_params: dict[str, Any] | None = None
    grid_summary: dict[str, Any] | None = None
    if cfg.grid:
        from worker.engine.grid import grid_combinations, join, rank, run_grid

        if chunks is not None:
            from worker.engine.sweep import in_grid_order

            combinations = grid_combinations(spec.strategy_params, cfg)
            joined = in_grid_order(combinations, join([c.evaluation for c in chunks]))
            outcome = rank(combinations, joined, cfg, bars=md.n_times, ppy=ppy, threads=threads)
        else:
            outcome = run_grid(
                md,
                spec.strategy_params,
                cfg,
                capital=capital,
                ppy=ppy,
                stages=stages.report,
                check=stages.check,
                threads=threads,
            )
        leaderboard, best_params = outcome.leaderboard, outcome.best_params
        strategy, grid_summary = outcome.best_strategy, outcome.summary
        overfitting = outcome.overfitting
        stages.done("grid")
    assert strategy is not None

    stages.report("signals", 0.0)
    alongside = md.n_symbols == 1 and md.n >= BESIDE_MIN_BARS
    # one symbol's buy and hold reads only the closes: computed beside the simulation
    held = beside(lambda: buy_and_hold_paths(md, capital)) if alongside else None
    size = cfg.position_size or strategy.default_position_size(md.n_symbols)
    # the SMA crossover's common case goes from the running sum to sized legs directly
    fills = crossover_fills(md, strategy, cfg, capital=capital, size=size)
    signal = strategy.signal(md) if fills is None else None
    stages.done("signals")
    stages.report("simulate", 0.0)
    levels = strategy.entry_levels(md)
    side: Beside[tuple[TradePass, pl.DataFrame]] | None = None
    if md.n_symbols == 1:  # the trades beside the curve's pass (``_trade_side``)
        if fills is None:
            assert signal is not None
            fills = sized_fills(md, signal, cfg, capital, size, levels)
        sized = fills
        side = beside(lambda: _trade_side(md, sized)) if alongside else None
    traded = None if side is None else (lambda: side.result()[0])
    sim = simulate(
        md, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels, fills=fills,
        traded=traded,
    )  # fmt: skip
    stages.done("simulate")
    stages.report("metrics", 0.0)
    buy_and_hold, held_mean = buy_and_hold_paths(md, capital) if held is None else held.result()
    benchmark = _benchmark(bench, md.grid_ts, buy_and_hold, capital)
    bench_curve = benchmark.to_numpy()
    ruin_bar = _ruin_bar(sim.metrics)
    returns_mean = None if sim.curve.derived is None else sim.curve.derived.returns_mean
    benchmark_mean = held_mean if bench is None else None

    def against() -> dict[str, Metric]:
        return benchmark_metrics(
            sim.curve.equity,
            bench_curve,
            initial=capital,
            ppy=ppy,
            risk_free_rate=cfg.risk_free_rate,
            ruin_bar=ruin_bar,
            returns=sim.returns,
            returns_mean=returns_mean,
            benchmark_mean=benchmark_mean,
        )

    equity = equity_frame(md, sim)
    # from the two curves (both means known, no ruin) the benchmark metrics are one compiled
    # pass: computed beside the rest of the analysis; built whole, the returns would raise
    # the peak there
    from_curves = ruin_bar is None and returns_mean is not None and benchmark_mean is not None
    stats = beside(against).result if from_curves and alongside else against
    # several symbols, or a liquidation changed the fills: the simulation's trades
    kept = side is not None and sim.fills is fills
    trades = side.result()[1] if kept and side is not None else trades_frame(md, sim)
    stages.done("frames")
    extra, analysis = analyse(
        equity,
        trades,
        bench_curve,
        initial=capital,
        ppy=ppy,
        risk_free_rate=cfg.risk_free_rate,
        ruin_bar=ruin_bar,
        returns=sim.returns,
        returns_mean=returns_mean,
        benchmark_mean=benchmark_mean,
        trade_sums=sim.trade_sums,
        times=md.grid_ts,
        benchmark_stats=stats,
    )
    stages.done("analysis")
    stages.report("metrics", 1.0)
    stages.total()
    resolved = resolve_config(cfg, md, size=size, ppy=ppy, timeframe=timeframe, capital=capital)
    if grid_summary is not None:
        resolved["grid_summary"] = grid_summary
    return BacktestResult(
        metrics={**sim.metrics, **overfitting, **extra},
        equity=equity,
        trades=trades,
        resolved_config=resolved,
        strategy=_strategy_dict(strategy),
        leaderboard=leaderboard,
        best_params=best_params,
        grid_summary=grid_summary,
        timings=stages.timings,
        buy_and_hold=buy_and_hold,
        benchmark=benchmark,
        analysis=analysis,
    )


def _trade_side(md: MarketData, fills: Fills) -> tuple[TradePass, pl.DataFrame]:
    """One symbol's trade pass and trade frame: they read the fills, not the curve, so they
    are built on the ``beside`` thread while the curve's pass runs (both compiled passes
    release the GIL). Pure: the numbers do not depend on the thread."""
    done = trade_pass(fills)
    return done, trade_rows(md, fills, done.pnl, done.returns)


def _benchmark(
    bench: BenchmarkBars | None, grid_ts: np.ndarray, buy_and_hold: pl.Series, capital: float
) -> pl.Series:
    if bench is None:
        return buy_and_hold.rename("benchmark")
    return pl.Series("benchmark", symbol_curve(grid_ts, bench, capital), dtype=pl.Float64)


def _ruin_bar(metrics: dict[str, Metric]) -> int | None:
    value = metrics.get("ruin_bar")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _walk_forward_result(
    md: MarketData,
    bench: BenchmarkBars | None,
    spec: RunSpec,
    stages: Stages,
    *,
    ppy: float,
    timeframe: str,
    chunks: Sequence[ChunkResult] | None,
    threads: int | None,
) -> BacktestResult:
    from worker.engine.walk_forward import run_walk_forward

    cfg, capital = spec.config, spec.initial_capital
    wf = run_walk_forward(
        md,
        spec.strategy_params,
        cfg,
        capital=capital,
        ppy=ppy,
        stages=stages.report,
        check=stages.check,
        chunks=chunks,
        threads=threads,
    )
    stages.done("walk_forward")
    grid_ts = wf.equity["timestamp"].cast(pl.Datetime("us", "UTC")).to_physical().to_numpy()
    benchmark = _benchmark(bench, grid_ts, wf.buy_and_hold, capital)
    extra, analysis = analyse(
        wf.equity,
        wf.trades,
        benchmark.to_numpy(),
        initial=capital,
        ppy=ppy,
        risk_free_rate=cfg.risk_free_rate,
    )
    stages.total()
    size = cfg.position_size or wf.strategy.default_position_size(md.n_symbols)
    resolved = resolve_config(cfg, md, size=size, ppy=ppy, timeframe=timeframe, capital=capital)
    resolved["walk_forward_summary"] = wf.summary
    return BacktestResult(
        metrics={**wf.metrics, **extra},
        equity=wf.equity,
        trades=wf.trades,
        resolved_config=resolved,
        strategy=_strategy_dict(wf.strategy),
        best_params=wf.best_params,
        timings=stages.timings,
        buy_and_hold=wf.buy_and_hold,
        walk_forward=wf,
        benchmark=benchmark,
        analysis=analysis,
    )


def _strategy_dict(strategy: Strategy) -> dict[str, Any]:
    out: dict[str, Any] = strategy.model_dump(mode="json", exclude_none=True)
    return out
