"""Each built-in strategy's time per backtest on the single run's data (issue 12: only the
SMA crossover was measured).

    .venv/bin/python -m bench.strategies [--bars 1000000] [--runs 5]
    .venv/bin/python -m bench.engine ... --strategies   (the same lines, in its subprocess)

One seeded 1-symbol dataset of one-minute bars (the engine bench's), the engine bench's
config; per strategy kind (``worker.engine.strategies.REGISTRY``, ``rules`` as an RSI and
moving-average rule) one warm-up run on the first 1,000 bars (the compiling) and one on all
of them (the heap's growth), then ``--runs`` timed
``run_backtest`` calls, all in one process: best and median milliseconds, and the trades.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

#: One parameter set per built-in kind (their defaults, a rules strategy spelled out).
PARAMS: dict[str, dict[str, Any]] = {
    "buy_and_hold": {"kind": "buy_and_hold"},
    "sma_crossover": {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30},
    "ema_crossover": {"kind": "ema_crossover", "fast_period": 10, "slow_period": 30},
    "momentum": {"kind": "momentum"},
    "rsi": {"kind": "rsi"},
    "bollinger": {"kind": "bollinger"},
    "breakout": {"kind": "breakout"},
    "rules": {
        "kind": "rules",
        "entry_long": {"op": "lt", "args": [{"op": "rsi", "period": 14}, 30]},
        "exit_long": {"op": "gt", "args": ["close", {"op": "sma", "period": 50}]},
        "entry_short": {"op": "gt", "args": [{"op": "rsi", "period": 14}, 70]},
        "exit_short": {"op": "lt", "args": ["close", {"op": "sma", "period": 50}]},
    },
}


def work_engine_strategies(path: str, config: dict[str, Any], runs: int = 5) -> dict[str, Any]:
    """Per kind: best and median seconds of ``runs`` backtests, and the trade count."""
    import polars as pl

    from worker.engine import run_backtest
    from worker.engine.strategies.registry import REGISTRY

    missing = set(REGISTRY) - set(PARAMS)
    assert not missing, f"no benchmark parameters for {sorted(missing)}"
    bars = pl.read_parquet(path)
    out: dict[str, Any] = {}
    for kind, params in PARAMS.items():
        run_backtest(bars.head(1000), params, config, initial_capital=10_000, timeframe="1m")
        run_backtest(bars, params, config, initial_capital=10_000, timeframe="1m")
        times, res = [], None
        for _i in range(runs):
            t = time.perf_counter()
            res = run_backtest(bars, params, config, initial_capital=10_000, timeframe="1m")
            times.append(time.perf_counter() - t)
        assert res is not None
        out[kind] = {
            "seconds": min(times),
            "median": sorted(times)[len(times) // 2],
            "trades": res.metrics["total_trades"],
        }
    return out


def summary_lines(out: dict[str, Any]) -> list[str]:
    return [
        f"  engine {kind}: {v['seconds'] * 1000:.1f} ms (median {v['median'] * 1000:.1f} ms), "
        f"{v['trades']} trades"
        for kind, v in out.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import tempfile

    from bench.engine import CONFIG
    from worker.engine import generate_bars, write_canonical_parquet
    from worker.engine.tuning import tune_allocator

    tune_allocator(arena_max=4)  # bench.engine's TUNED_MALLOC
    with tempfile.TemporaryDirectory() as tmp:
        bars = generate_bars(["BENCH"], args.bars, "1m", seed=42)
        path = str(write_canonical_parquet(bars, Path(tmp) / "bars.parquet"))
        print(f"data: {args.bars:,} one-minute bars, 1 symbol; config {CONFIG}")
        out = work_engine_strategies(path, CONFIG, args.runs)
    print("\n".join(summary_lines(out)))


if __name__ == "__main__":
    main()
