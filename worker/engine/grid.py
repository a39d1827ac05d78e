"""Parameter grids: every valid combination, streamed in chunks, one leaderboard.

Indicators are shared across combinations through the MarketData indicator cache (each
distinct moving average is computed once while it fits the cache budget); combinations are
visited in an order that keeps few of them alive (grid_order). Each combination
runs the same ``simulate`` as a single run, so its leaderboard row equals that run's
metrics exactly; the common SMA-crossover case takes the compiled path of grid_fast, which
gives the same numbers bit for bit.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import ValidationError

from worker.engine import grid_fast
from worker.engine.errors import EngineInputError
from worker.engine.grid_order import cache_budget, evaluation_order
from worker.engine.grid_stats import BOARD_METRICS, grid_overfitting, partitions_for
from worker.engine.indicators import CACHE_BYTES
from worker.engine.market import MarketData
from worker.engine.metrics import METRIC_NAMES
from worker.engine.params import RunConfig, format_errors
from worker.engine.period_sums import PeriodSums
from worker.engine.simulate import simulate_metrics_and_sums
from worker.engine.strategies import Strategy, strategy_class

CHUNK_PER_THREAD = 4
DEFAULT_THREADS = min(4, os.cpu_count() or 1)
LOWER_IS_BETTER = frozenset({"volatility", "max_drawdown_duration_bars", "commissions_paid"})
#: One combination's leaderboard row (parameters and metrics) and period sums.
Result = tuple[dict[str, Any], PeriodSums]


@dataclass(frozen=True)
class Combinations:
    """A grid's parameter names (sorted), its valid combinations in evaluation order (each
    with its validated strategy), and the skipped ones with the reason."""

    keys: list[str]
    valid: list[tuple[dict[str, Any], Strategy]]
    skipped: list[dict[str, Any]]


@dataclass(frozen=True)
class Evaluation:
    """Leaderboard rows (parameters and metrics) and period sums, one per combination, in
    the order evaluated: what a grid, or one chunk of a sweep, computes."""

    rows: list[dict[str, Any]]
    sums: list[PeriodSums]


@dataclass(frozen=True)
class GridOutcome:
    leaderboard: pl.DataFrame
    best_params: dict[str, Any]
    best_strategy: Strategy
    summary: dict[str, Any]
    #: the chosen combination's probabilistic and deflated Sharpe ratios, the grid's PBO
    overfitting: dict[str, float | None]


def grid_combinations(base: dict[str, Any], cfg: RunConfig) -> Combinations:
    """Every combination of ``cfg.grid``, validated; EngineInputError when none is valid."""
    strategy_class(base, cfg.params)  # unknown or missing kind fails first
    keys, valid, skipped = _combinations(base, cfg)
    if not valid:
        example = skipped[0]["reason"] if skipped else "no combinations"
        raise EngineInputError(
            f"no valid parameter combination in the grid ({len(skipped)} skipped: {example})",
            type="invalid_grid",
            detail={"skipped": len(skipped), "examples": skipped[:5]},
        )
    return Combinations(keys, valid, skipped)


def chunk_strategies(
    base: dict[str, Any], cfg: RunConfig, combos: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], Strategy]]:
    """The listed combinations of a sweep's chunk, validated (the parent validated them)."""
    cls = strategy_class(base, cfg.params)
    out = []
    for combo in combos:
        try:
            out.append((combo, cls.model_validate({**base, **cfg.params, **combo})))
        except ValidationError as exc:
            text, _ = format_errors(exc)
            raise EngineInputError(
                f"invalid combination in the sweep chunk: {text}",
                type="invalid_grid",
                detail={"params": combo},
            ) from None
    return out


def _combinations(
    base: dict[str, Any], cfg: RunConfig
) -> tuple[list[str], list[tuple[dict[str, Any], Strategy]], list[dict[str, Any]]]:
    assert cfg.grid is not None
    cls = strategy_class(base, cfg.params)
    kind = str({**base, **cfg.params}.get("kind"))
    keys = sorted(cfg.grid)
    unknown = [k for k in keys if k not in cls.model_fields or k == "kind"]
    if unknown:
        raise EngineInputError(
            f"grid names unknown parameter(s) {', '.join(unknown)} for {kind}; "
            f"parameters are {', '.join(f for f in cls.model_fields if f != 'kind')}",
            type="invalid_grid",
            detail={"unknown": unknown},
        )
    total = 1
    for k in keys:
        total *= len(cfg.grid[k])
    if total > cfg.max_combinations:
        raise EngineInputError(
            f"the grid has {total} combinations, more than max_combinations "
            f"({cfg.max_combinations})",
            type="invalid_grid",
            detail={"combinations": total, "max_combinations": cfg.max_combinations},
        )
    valid: list[tuple[dict[str, Any], Strategy]] = []
    skipped: list[dict[str, Any]] = []
    for values in itertools.product(*(sorted(cfg.grid[k], key=_sort_key) for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        try:
            strategy = cls.model_validate({**base, **cfg.params, **combo})
        except ValidationError as exc:
            text, _ = format_errors(exc)
            skipped.append({"params": combo, "reason": text})
            continue
        valid.append((combo, strategy))
    return keys, valid, skipped


def _cell(value: Any) -> Any:
    """Leaderboard cell: scalars as they are, structured values (rule expressions) as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def run_grid(
    md: MarketData,
    base_params: dict[str, Any],
    cfg: RunConfig,
    *,
    capital: float,
    ppy: float,
    stages: Callable[[str, float], None],
    check: Callable[[], None],
    threads: int | None = None,
) -> GridOutcome:
    combinations = grid_combinations(base_params, cfg)
    evaluation = evaluate(
        md,
        combinations.valid,
        cfg,
        capital=capital,
        ppy=ppy,
        stages=stages,
        check=check,
        threads=threads,
    )
    return rank(combinations, evaluation, cfg, bars=md.n_times, ppy=ppy, threads=threads)


def evaluate(
    md: MarketData,
    valid: list[tuple[dict[str, Any], Strategy]],
    cfg: RunConfig,
    *,
    capital: float,
    ppy: float,
    stages: Callable[[str, float], None],
    check: Callable[[], None],
    threads: int | None = None,
) -> Evaluation:
    """Each combination's metrics and period sums, in the order given."""
    partitions = partitions_for(md.n_times, cfg.pbo_partitions)

    def one(item: tuple[dict[str, Any], Strategy]) -> Result:
        combo, strategy = item
        size = cfg.position_size or strategy.default_position_size(md.n_symbols)
        parts = max(partitions, 1)
        fast = grid_fast.combination(
            md, strategy, cfg, capital=capital, size=size, ppy=ppy, partitions=parts
        )
        if fast is None:
            fast = simulate_metrics_and_sums(
                md,
                strategy.signal(md),
                cfg,
                capital=capital,
                size=size,
                ppy=ppy,
                partitions=parts,
                levels=strategy.entry_levels(md),
            )
        values, sums = fast
        return {**{k: _cell(v) for k, v in combo.items()}, **values}, sums

    n = len(valid)
    done: list[Result | None] = [None] * n
    # results are put in combination order, so they do not depend on scheduling nor on the
    # evaluation order (which only keeps the shared indicator arrays few: grid_order)
    workers = max(1, DEFAULT_THREADS if threads is None else threads)
    order, inner = evaluation_order([combo for combo, _ in valid])
    step = CHUNK_PER_THREAD * workers  # cancellation and progress between chunks
    chunks = [order[lo : lo + step] for lo in range(0, n, step)]
    md.cache_bytes = cache_budget(md.n, inner, workers, CACHE_BYTES)
    finished = 0
    evaluated = _evaluated(one, valid, chunks, workers, check)
    try:
        for part, results in evaluated:
            for i, result in zip(part, results, strict=True):
                done[i] = result
            finished += len(part)
            stages("grid", finished / n)
    finally:
        evaluated.close()  # stops the threads before the cache goes
        md.cache.clear()
        md.cache_bytes = None
    rows = [result for result in done if result is not None]
    return Evaluation([row for row, _ in rows], [row_sums for _, row_sums in rows])


def _evaluated(
    one: Callable[[tuple[dict[str, Any], Strategy]], Result],
    valid: list[tuple[dict[str, Any], Strategy]],
    chunks: list[list[int]],
    workers: int,
    check: Callable[[], None],
) -> Generator[tuple[list[int], list[Result]], None, None]:
    """Each chunk's results, chunk by chunk, ``check`` called before a chunk starts.

    numpy releases the GIL in its array passes, so combinations run in ``workers`` threads;
    the next chunk is queued before a chunk is collected, so no thread idles while the
    slowest combination of a chunk finishes."""
    if workers == 1:
        for part in chunks:
            check()
            yield part, [one(valid[i]) for i in part]
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    queued: deque[tuple[list[int], list[Future[Result]]]] = deque()
    try:
        for part in chunks:
            check()
            queued.append((part, [pool.submit(one, valid[i]) for i in part]))
            if len(queued) > 1:
                first, futures = queued.popleft()
                yield first, [future.result() for future in futures]
        while queued:
            first, futures = queued.popleft()
            yield first, [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def join(parts: list[Evaluation]) -> Evaluation:
    """Evaluations of consecutive chunks of one grid, as the grid's own."""
    return Evaluation(
        [row for part in parts for row in part.rows], [s for part in parts for s in part.sums]
    )


def rank(
    combinations: Combinations,
    evaluation: Evaluation,
    cfg: RunConfig,
    *,
    bars: int,
    ppy: float,
    threads: int | None = None,
) -> GridOutcome:
    """The leaderboard of every evaluated combination, its overfitting statistics and the
    best combination (a sweep's fan-in calls this on its chunks' evaluations, joined).
    ``threads``: for the PBO (default DEFAULT_THREADS); the numbers do not depend on it."""
    keys, valid, skipped = combinations.keys, combinations.valid, combinations.skipped
    rows, sums = evaluation.rows, evaluation.sums
    if len(rows) != len(valid):
        raise EngineInputError(
            f"{len(rows)} evaluated combinations for a grid of {len(valid)}",
            type="invalid_grid",
            detail={"evaluated": len(rows), "combinations": len(valid)},
        )
    n = len(valid)
    metric = cfg.grid_metric
    stats = grid_overfitting(
        [row["sharpe_ratio"] for row in rows],
        sums,
        bars=bars,
        ppy=ppy,
        threads=max(1, DEFAULT_THREADS if threads is None else threads),
    )
    board = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.Series("probabilistic_sharpe_ratio", stats.psr, dtype=pl.Float64),
        pl.Series("deflated_sharpe_ratio", stats.dsr, dtype=pl.Float64),
    )
    board = board.with_row_index("combination")
    board = board.sort(
        metric, descending=metric not in LOWER_IS_BETTER, nulls_last=True, maintain_order=True
    ).with_columns(rank=pl.int_range(1, pl.len() + 1))
    board = board.select("rank", *keys, *METRIC_NAMES, *BOARD_METRICS, "combination")
    best_index = int(board["combination"][0])
    overfitting = {
        "probabilistic_sharpe_ratio": stats.psr[best_index],
        "deflated_sharpe_ratio": stats.dsr[best_index],
        "pbo": stats.pbo,
    }
    best_params, best_strategy = valid[best_index]
    summary = {
        "combinations": n + len(skipped),
        "evaluated": n,
        "skipped": len(skipped),
        "skipped_examples": skipped[:5],
        "metric": metric,
        "overfitting": stats.summary,
    }
    return GridOutcome(
        board.drop("combination"), dict(best_params), best_strategy, summary, overfitting
    )
