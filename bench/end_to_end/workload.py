"""What the benchmark runs: the dataset sizes, the strategy and the run configs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any

NOOP_HANDLER = "bench.queue_throughput:noop"
STRATEGY = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}
CONFIG: dict[str, Any] = {"commission": 0.001}
ARTIFACTS_OFF: dict[str, Any] = {"artifacts": []}
# A window after the data: the run loads (and, the first time, hash-verifies) the dataset and
# fails at once with empty_window, so a warm-up costs no simulation and no rendering.
WARMUP_WINDOW: dict[str, Any] = {"start": "2999-01-01T00:00:00Z"}


def production_handler() -> str:
    """The handler `backtest-worker run` uses when none is given (it moves in refactors)."""
    try:
        from worker.cli.run import DEFAULT_HANDLER
    except ImportError:
        return "(the worker's default)"
    return str(DEFAULT_HANDLER)


@dataclass(frozen=True)
class Size:
    name: str
    symbols: tuple[str, ...]
    bars: int
    timeframe: str
    latency_runs: int
    burst_runs: int
    timeout: float  # seconds a single run may take before the benchmark gives up


SIZES: dict[str, Size] = {
    # burst counts: 300 small / 6 large took 593 s in all on this 2-core machine under load
    "small": Size("small", ("AAA",), 250, "1d", 30, 200, 120),
    "medium": Size("medium", ("AAA", "BBB", "CCC", "DDD", "EEE"), 2520, "1d", 10, 50, 180),
    "large": Size("large", ("AAA",), 1_000_000, "1m", 3, 4, 600),
}
# --quick: no large burst, and the large latency with the largest worker count only
QUICK_COUNTS = {"small": (5, 20), "medium": (3, 10), "large": (1, 0)}
QUICK_NOOP_RUNS = 300


def parse_counts(spec: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in (spec or "").split(","):
        if part.strip():
            name, _, value = part.partition("=")
            if name.strip() not in SIZES or not value.strip().isdigit():
                raise SystemExit(f"bad count {part!r}: expected e.g. small=30,large=3")
            out[name.strip()] = int(value)
    return out


def choose_sizes(args: argparse.Namespace) -> list[Size]:
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    latency, burst, bars = (
        parse_counts(args.latency_runs),
        parse_counts(args.burst_runs),
        parse_counts(args.bars),
    )
    chosen = []
    for name in names:
        size = SIZES[name]
        lat, bur = QUICK_COUNTS[name] if args.quick else (size.latency_runs, size.burst_runs)
        chosen.append(
            replace(
                size,
                bars=bars.get(name, size.bars),
                latency_runs=latency.get(name, lat),
                burst_runs=burst.get(name, bur),
            )
        )
    return chosen
