"""Engine benchmark: prints figures, is not a test.

    .venv/bin/python bench/engine.py [--bars 1000000] [--vbt-grid-combos 100] [--skip-bt]
        [--skip-grid] [--skip-portfolio] [--portfolio-symbols 8] [--commission 0.0001]
        [--strategies]

On one synthetic 1-symbol dataset (seeded GBM, 1-minute bars) it measures, each in its own
subprocess so peak memory is measured separately:

* this engine: one SMA(10/30) crossover backtest (run_backtest end to end: signals,
  simulation, all metrics, equity and trade frames), and a grid of 1,000 (fast, slow)
  combinations through run_backtest's grid mode (leaderboard with every metric per
  combination, then the best combination's full result);
* vectorbt: MA.run + crossed_above/below + Portfolio.from_signals + total return, Sharpe,
  max drawdown, trade count (JIT compile time reported separately); its grid runs in
  column chunks (1M bars x 1,000 columns would need tens of GB), timed on
  ``--vbt-grid-combos`` combinations and extrapolated;

Speed is compared only after checking that both engines did the same work
(bench/agreement.py): the single run's trades (entry and exit bars, sides, units) and final
equity, and the grid's total return on every combination vectorbt ran. vectorbt gets the
same strict crosses as entries (a long entry reverses a short and the reverse, as this
engine's target position does), and an exit on the last bar, where this engine closes what
is still open. The commission is 1 bp (``--commission``): at 0.1 % the ~39,000 trades of
SMA(10/30) on 1M one-minute bars take the account to 1e-31 and vectorbt stops filling
orders of a few billionths of a unit, so the two no longer do the same work.
* this engine's portfolio: the single run's strategy and config on ``--portfolio-symbols``
  aligned symbols of ``--bars`` bars each, default 1/n sizing (bench/portfolio.py);
* with ``--strategies``, each built-in strategy's single run on the same bars
  (bench/strategies.py);
* backtesting.py: Backtest(...).run() once; its optimize() over 1,000 combinations is
  extrapolated from that single run (it is a per-bar Python loop).

Every timed series follows a compile on 1,000 bars and one untimed run at full size (the
first full-size runs grow the process's heap page by page, 40-200 ms each here: without it
the median measured that growth).

Peak memory is the growth of the process's peak RSS over its RSS after loading the data (and
after the compile on 1,000 bars where there is one); the peak is reset there (Linux), so
loading does not count.
Every subprocess gets the same glibc malloc settings (``--no-tune`` for the defaults): they
keep freed blocks for reuse instead of returning them to the kernel, which helps every
engine on small VMs (see worker/engine/tuning.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds other benchmarks (e.g. one named queue.py): never let them shadow stdlib
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bt_single, portfolio, strategies  # noqa: E402
from bench.agreement import engine_trades, report, vbt_portfolio, vbt_trades  # noqa: E402

FAST = list(range(5, 55, 2))  # 25 values
SLOW = list(range(60, 260, 5))  # 40 values -> 1,000 valid combinations
CONFIG: dict[str, Any] = {"commission": 0.0001, "units": "fractional", "fill": "close"}
TUNED_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(256 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024 * 1024),
    "MALLOC_ARENA_MAX": "4",
}


def _baseline_mb() -> float:
    """The process's RSS now, the point its peak memory is counted from.

    Linux's peak RSS (VmHWM) is reset here, so the peak is the work's alone: the process's
    lifetime peak also holds loading the data, whose transient buffers were larger than many
    a run and were freed or not by chance (the same tree's figure spread 135-331 MB)."""
    import psutil

    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_mb() -> float:
    """The peak RSS since `_baseline_mb` (the lifetime peak where it cannot be reset)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(path: str) -> Any:
    import polars as pl

    return pl.read_parquet(path)


# ---- workers (run in subprocesses) -------------------------------------------------------


def work_engine_single(path: str, _: argparse.Namespace) -> dict[str, Any]:
    from worker.engine import run_backtest

    bars = _load(path)
    params = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30}
    run_backtest(bars.head(1000), params, CONFIG, initial_capital=10_000, timeframe="1m")
    base = _baseline_mb()
    # A full-size run first (its peak counts): the first runs grow the heap, page by page.
    run_backtest(bars, params, CONFIG, initial_capital=10_000, timeframe="1m")
    times, timings = [], {}
    res = None
    for _i in range(5):
        t = time.perf_counter()
        res = run_backtest(bars, params, CONFIG, initial_capital=10_000, timeframe="1m")
        times.append(time.perf_counter() - t)
        timings = res.timings
    assert res is not None
    int_times = []
    for _i in range(3):
        t = time.perf_counter()
        run_backtest(
            bars, params, {**CONFIG, "units": "integer"}, initial_capital=10_000, timeframe="1m"
        )
        int_times.append(time.perf_counter() - t)
    return {
        "seconds": min(times),
        "median": sorted(times)[len(times) // 2],
        "integer_units_seconds": min(int_times),
        "stages": {k: round(v, 4) for k, v in timings.items()},
        "peak_mb": _peak_mb() - base,
        "trades": res.metrics["total_trades"],
        "sharpe": res.metrics["sharpe_ratio"],
        "trade_rows": engine_trades(res),
    }


def work_engine_grid(path: str, _: argparse.Namespace) -> dict[str, Any]:
    import numba  # noqa: F401
    import polars  # noqa: F401

    import worker.engine

    t = time.perf_counter()
    import worker.engine.grid_fast  # noqa: F401  (the grid's compiled kernels, before the timer)

    kernel_load = time.perf_counter() - t
    from worker.engine import run_backtest

    bars = _load(path)
    base = _baseline_mb()
    t = time.perf_counter()
    res = run_backtest(
        bars,
        {"kind": "sma_crossover"},
        {**CONFIG, "grid": {"fast_period": FAST, "slow_period": SLOW}},
        initial_capital=10_000,
        timeframe="1m",
    )
    seconds = time.perf_counter() - t
    assert res.leaderboard is not None
    n = res.leaderboard.height
    board = res.leaderboard.select("fast_period", "slow_period", "total_return").rows()
    return {
        "combinations": n,
        "seconds": seconds,
        "combos_per_s": n / seconds,
        "peak_mb": _peak_mb() - base,
        "kernel_load_seconds": kernel_load,
        "best": res.best_params,
        "total_returns": {f"{f}/{s}": r for f, s, r in board},
    }


def _vbt_close(path: str) -> Any:
    import pandas as pd

    df = _load(path)
    return pd.Series(
        df["close"].to_numpy(),
        index=pd.DatetimeIndex(df["timestamp"].dt.replace_time_zone(None).to_numpy()),
    )


def work_vbt_single(path: str, _: argparse.Namespace) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import vectorbt as vbt

    close = _vbt_close(path)

    def once(c: Any) -> tuple[Any, ...]:
        fast, slow = vbt.MA.run(c, 10), vbt.MA.run(c, 30)
        pf = vbt_portfolio(vbt, c, fast, slow, CONFIG["commission"])
        return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count(), pf

    t = time.perf_counter()
    once(close.iloc[:1000])
    compile_s = time.perf_counter() - t
    base = _baseline_mb()
    once(close)  # a full-size run first, as for this engine
    times = []
    out: tuple[Any, ...] = ()
    for _i in range(3):
        t = time.perf_counter()
        out = once(close)
        times.append(time.perf_counter() - t)
    return {
        "seconds": min(times),
        "compile_seconds": compile_s,
        "peak_mb": _peak_mb() - base,
        "trades": int(out[3]),
        "sharpe": float(out[1]),
        "trade_rows": vbt_trades(out[4]),
    }


def work_vbt_grid(path: str, args: argparse.Namespace) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    import vectorbt as vbt

    close = _vbt_close(path)
    combos = [(f, s) for f in FAST for s in SLOW][: args.vbt_grid_combos]
    chunk = args.vbt_chunk

    def run_chunk(c: Any, part: list[tuple[int, int]]) -> Any:
        fast = vbt.MA.run(c, [f for f, _ in part], short_name="fast")
        slow = vbt.MA.run(c, [s for _, s in part], short_name="slow")
        pf = vbt_portfolio(vbt, c, fast, slow, CONFIG["commission"])
        return np.asarray(pf.sharpe_ratio()), np.asarray(pf.total_return()), pf.max_drawdown()

    t = time.perf_counter()
    run_chunk(close.iloc[:1000], combos[:2])
    compile_s = time.perf_counter() - t
    base = _baseline_mb()
    t = time.perf_counter()
    returns: dict[str, float] = {}
    for lo in range(0, len(combos), chunk):
        part = combos[lo : lo + chunk]
        total = run_chunk(close, part)[1]
        returns.update({f"{f}/{s}": float(r) for (f, s), r in zip(part, total, strict=True)})
    seconds = time.perf_counter() - t
    return {
        "combinations": len(combos),
        "chunk": chunk,
        "seconds": seconds,
        "combos_per_s": len(combos) / seconds,
        "compile_seconds": compile_s,
        "peak_mb": _peak_mb() - base,
        "total_returns": returns,
    }


def work_engine_portfolio(path: str, _: argparse.Namespace) -> dict[str, Any]:
    return portfolio.work_engine_portfolio(path, CONFIG, _baseline_mb, _peak_mb)


def work_engine_strategies(path: str, _: argparse.Namespace) -> dict[str, Any]:
    return strategies.work_engine_strategies(path, CONFIG)


WORKERS = {
    "engine_single": work_engine_single,
    "engine_strategies": work_engine_strategies,
    "engine_portfolio": work_engine_portfolio,
    "engine_grid": work_engine_grid,
    "vbt_single": work_vbt_single,
    "vbt_grid": work_vbt_grid,
    "bt_single": lambda path, _: bt_single.work_bt_single(path, CONFIG, _baseline_mb, _peak_mb),
}
NEEDS = {"vbt_single": "vectorbt", "vbt_grid": "vectorbt", "bt_single": "backtesting"}


# ---- driver ------------------------------------------------------------------------------


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _spawn(name: str, path: str, args: argparse.Namespace) -> dict[str, Any] | None:
    if name in NEEDS and not _installed(NEEDS[name]):
        print(f"  {name}: not installed ({NEEDS[name]})")
        return None
    cmd = [sys.executable, __file__, "--worker", name, "--data", path]
    cmd += ["--vbt-grid-combos", str(args.vbt_grid_combos), "--vbt-chunk", str(args.vbt_chunk)]
    cmd += ["--commission", repr(args.commission)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if not args.no_tune:  # the same glibc settings for every engine (see worker/engine/tuning.py)
        env.update(TUNED_MALLOC)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if proc.returncode != 0:
        print(f"  {name}: failed\n{proc.stderr[-2000:]}")
        return None
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    shown = {k: v for k, v in out.items() if k not in ("trade_rows", "total_returns")}
    print(f"  {name}: {json.dumps(shown)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--vbt-grid-combos", type=int, default=50)
    parser.add_argument("--vbt-chunk", type=int, default=25)
    parser.add_argument("--skip-bt", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-portfolio", action="store_true")
    parser.add_argument("--portfolio-symbols", type=int, default=portfolio.SYMBOLS)
    parser.add_argument(
        "--strategies", action="store_true", help="each built-in strategy's single run too"
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--no-tune", action="store_true", help="default glibc malloc settings for every engine"
    )
    parser.add_argument(
        "--commission", type=float, default=CONFIG["commission"], help="fraction per fill"
    )
    parser.add_argument("--worker")
    parser.add_argument("--data")
    args = parser.parse_args()
    CONFIG["commission"] = args.commission
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.data, args)))
        return

    from worker.engine import generate_bars, write_canonical_parquet

    with tempfile.TemporaryDirectory() as tmp:
        path = str(
            write_canonical_parquet(
                generate_bars(["BENCH"], args.bars, "1m", seed=42), Path(tmp) / "bars.parquet"
            )
        )
        print(f"data: {args.bars:,} one-minute bars, 1 symbol; config {CONFIG}")
        print(f"grid: fast {FAST[0]}..{FAST[-1]} x slow {SLOW[0]}..{SLOW[-1]}")
        print(f"allocator: {'glibc defaults' if args.no_tune else TUNED_MALLOC} (all engines)")
        names = ["engine_single", "vbt_single"]
        if not args.skip_bt:
            names.append("bt_single")
        if not args.skip_grid:
            names += ["engine_grid", "vbt_grid"]
        if args.strategies:
            names.append("engine_strategies")
        r = {name: _spawn(name, path, args) for name in names}
        if not args.skip_portfolio:
            multi = portfolio.write_data(args.bars, args.portfolio_symbols, Path(tmp) / "p.pq")
            r["engine_portfolio"] = _spawn("engine_portfolio", multi, args)

    single_ok, grid_ok = report(r)
    es, vs, bs = r.get("engine_single"), r.get("vbt_single"), r.get("bt_single")
    eg, vg = r.get("engine_grid"), r.get("vbt_grid")
    print("\nsummary")
    if es:
        print(
            f"  engine single: {es['seconds'] * 1000:.1f} ms (integer units "
            f"{es['integer_units_seconds'] * 1000:.1f} ms), peak +{es['peak_mb']:.0f} MB, "
            f"{es['trades']} trades"
        )
    if r.get("engine_portfolio"):
        print(portfolio.summary_line(r["engine_portfolio"]))
    if r.get("engine_strategies"):
        print("\n".join(strategies.summary_lines(r["engine_strategies"])))
    if vs:
        print(
            f"  vectorbt single: {vs['seconds'] * 1000:.1f} ms (+ JIT compile "
            f"{vs['compile_seconds']:.1f} s once), peak +{vs['peak_mb']:.0f} MB"
        )
        if es and single_ok:
            print(f"  -> engine is {vs['seconds'] / es['seconds']:.1f}x faster than vectorbt")
        elif es:
            print("  -> no speed ratio: the two did not do the same work (see agreement)")
    if bs:
        print(f"  backtesting.py single: {bs['seconds']:.1f} s, peak +{bs['peak_mb']:.0f} MB")
        print(
            f"  backtesting.py optimize over {len(FAST) * len(SLOW)} combinations: infeasible "
            f"(~{bs['seconds'] * len(FAST) * len(SLOW) / 3600:.1f} h extrapolated)"
        )
        if es:
            print(f"  -> engine is {bs['seconds'] / es['seconds']:.0f}x faster than backtesting.py")
    if eg:
        print(
            f"  engine grid: {eg['combinations']} combinations in {eg['seconds']:.1f} s = "
            f"{eg['combos_per_s']:.1f} combos/s, peak +{eg['peak_mb']:.0f} MB "
            f"(+ {eg['kernel_load_seconds']:.2f} s loading its compiled kernels once)"
        )
    if vg:
        print(
            f"  vectorbt grid: {vg['combinations']} combinations (chunks of {vg['chunk']}) in "
            f"{vg['seconds']:.1f} s = {vg['combos_per_s']:.1f} combos/s, "
            f"peak +{vg['peak_mb']:.0f} MB"
        )
        if eg and not grid_ok:
            print("  -> no throughput ratio: the two did not do the same work (see agreement)")
        elif eg:
            print(
                f"  -> engine grid throughput {eg['combos_per_s'] / vg['combos_per_s']:.1f}x "
                f"vectorbt, memory {eg['peak_mb'] / max(vg['peak_mb'], 1):.2f}x"
            )


if __name__ == "__main__":
    main()
