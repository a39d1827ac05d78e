"""The benchmark database's contents: migrated, datasets imported, strategy created, all with
the `backtest-worker` CLI as an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

from bench.end_to_end.context import Bench
from bench.end_to_end.workload import STRATEGY, Size
from bench.queue_throughput import BIN, ROOT


async def run_cli(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(BIN),
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"backtest-worker {args[0]} failed: {err.decode()[-2000:]}")
    return out.decode()


def write_bars(size: Size, path: Path) -> Path:
    from worker.engine.synthetic import generate_bars

    bars = generate_bars(symbols=size.symbols, n_bars=size.bars, timeframe=size.timeframe, seed=7)
    bars.write_parquet(path)
    return path


async def setup(ctx: Bench, sizes: list[Size]) -> list[str]:
    """Migrate, generate and import the datasets (the CLI's import path), create the strategy."""
    facts = []
    started = time.perf_counter()
    await run_cli(ctx.env, "migrate")
    facts.append(f"migrated in {time.perf_counter() - started:.1f} s")

    async def one(size: Size) -> str:
        t0 = time.perf_counter()
        path = await asyncio.to_thread(write_bars, size, ctx.dirs["input"] / f"{size.name}.parquet")
        out = await run_cli(
            ctx.env,
            "dataset",
            "import",
            str(path),
            "--name",
            f"bench {size.name}",
            "--timeframe",
            size.timeframe,
        )
        ctx.datasets[size.name] = uuid.UUID(out.strip().splitlines()[-1])
        return (
            f"{size.name}: {len(size.symbols)} symbol(s) × {size.bars:,} {size.timeframe} bars"
            f" = {len(size.symbols) * size.bars:,} rows (generated + imported in"
            f" {time.perf_counter() - t0:.1f} s)"
        )

    facts += await asyncio.gather(*(one(size) for size in sizes))
    out = await run_cli(
        ctx.env, "strategy", "create", "--name", "bench sma 10/50", "--params", json.dumps(STRATEGY)
    )
    ctx.strategy = uuid.UUID(out.strip().splitlines()[-1])
    return facts
