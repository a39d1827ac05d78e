"""The scenarios: on the production handler a warm-up, then latency (one run at a time) and
burst (many runs inserted at once); on the no-op handler the ceiling of the same processes."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from bench.cpu import backend_pids, cpu_seconds, with_children
from bench.end_to_end.context import Bench
from bench.end_to_end.figures import Scenario, summarise
from bench.end_to_end.node import RunSample
from bench.end_to_end.report import progress
from bench.end_to_end.stages import derive_stages
from bench.end_to_end.workers import Workers
from bench.end_to_end.workload import (
    ARTIFACTS_OFF,
    CONFIG,
    NOOP_HANDLER,
    WARMUP_WINDOW,
    Size,
)


async def latency_scenarios(
    ctx: Bench, size: Size, workers: Workers, modes: list[tuple[str, dict[str, Any]]], runs: int
) -> list[Scenario]:
    """`runs` runs of each mode, one at a time, the modes alternated (A B B A A B …): load
    from other work drifts over a series, and run by run both modes see the same of it, and
    each follows a run of either mode equally often."""
    samples: dict[str, list[RunSample]] = {label: [] for label, _ in modes}
    for i in range(runs):
        for label, config in modes if i % 2 == 0 else modes[::-1]:
            await asyncio.sleep(0.2)  # the worker is idle again (completion and heartbeat settle)
            run_id, perf, wall = await ctx.node.insert_one(
                ctx.datasets[size.name], ctx.strategy, config
            )
            sample = RunSample(run_id, perf, wall)
            await ctx.node.wait_all([run_id], size.timeout, workers)
            ctx.node.fill([sample])
            samples[label].append(sample)
    out = []
    for label, _ in modes:
        scenario = Scenario("latency", size.name, workers.count, label, runs)
        summarise(scenario, samples[label])
        scenario.stages = await derive_stages(
            ctx.node.conn, samples[label], ctx.clock_offset, burst=False
        )
        out.append(scenario)
    return out


async def burst_scenario(
    ctx: Bench,
    size: Size,
    workers: Workers,
    config: dict[str, Any],
    artifacts: str,
    runs: int,
    kind: str = "burst",
) -> Scenario:
    scenario = Scenario(kind, size.name, workers.count, artifacts, runs)
    await asyncio.sleep(0.5)
    worker_pids = [pid for p in workers.processes for pid in with_children(p.pid)]
    backends = await _worker_backends(ctx)
    cpu_before = cpu_seconds(worker_pids), cpu_seconds(backends)
    rows, first = await ctx.node.insert_burst(
        ctx.datasets[size.name], ctx.strategy, config, runs, ctx.args.burst_insert
    )
    samples = [RunSample(*row) for row in rows]
    budget = 60 + size.timeout * math.ceil(runs / max(1, workers.count))
    await ctx.node.wait_all([s.run_id for s in samples], budget, workers)
    backends = sorted(set(backends) | set(await _worker_backends(ctx)))  # and any new ones
    scenario.worker_cpu_ms = 1000 * (cpu_seconds(worker_pids) - cpu_before[0]) / runs
    scenario.server_cpu_ms = 1000 * (cpu_seconds(backends) - cpu_before[1]) / runs
    ctx.node.fill(samples)
    last = max(s.notify_perf for s in samples)
    scenario.elapsed_s = last - first
    scenario.runs_per_s = runs / scenario.elapsed_s
    scenario.runs_per_s_from_commit = runs / (last - min(s.commit_perf for s in samples))
    summarise(scenario, samples)
    if kind != "noop":
        scenario.stages = await derive_stages(ctx.node.conn, samples, ctx.clock_offset, burst=True)
    return scenario


async def _worker_backends(ctx: Bench) -> list[int]:
    """The PostgreSQL processes serving the workers (every session on the database but
    the bench's own)."""
    return [pid for pid in await backend_pids(ctx.node.conn) if pid not in ctx.node.pids]


async def warm_up(ctx: Bench, workers: Workers, sizes: list[Size]) -> list[str]:
    """Imports, fonts, pools: real small runs; each dataset's hash check: empty-window runs;
    then real runs of each larger size, as many as the workers run at once: a process's first
    runs of a size grow its heap, and touching that fresh memory cost the first 1M-bar run
    60-230 ms more engine time than the next (8,000 page faults, measured 2026-12-03), which
    the first measured series (art=default) would otherwise carry."""
    per_process = workers.count * (workers.concurrency or ctx.args.default_concurrency)
    run_id, perf, _ = await ctx.node.insert_one(ctx.datasets["small"], ctx.strategy, CONFIG)
    await ctx.node.wait_all([run_id], 300, workers)
    cold = (ctx.node.notified[run_id].perf - perf) * 1000
    rows, _ = await ctx.node.insert_burst(
        ctx.datasets["small"], ctx.strategy, CONFIG, 2 * per_process, "statement"
    )
    await ctx.node.wait_all([r[0] for r in rows], 300, workers)
    ids = await _burst_of_each(ctx, workers, sizes, {**CONFIG, **WARMUP_WINDOW}, 2 * per_process)
    covered = await _coverage(ctx, workers, ids)
    larger = [size for size in sizes if size.name != "small"]
    real = await _burst_of_each(ctx, workers, larger, CONFIG, per_process) if larger else []
    ran = await _coverage(ctx, workers, real) if real else ""
    return [
        f"warm-up: 1 + {len(rows)} real small runs (the first, on a cold worker: {cold:.0f} ms),"
        f" {len(ids)} empty-window runs loading each dataset (workers that loaded it: {covered})"
        f" and {len(real)} real runs of the larger sizes (workers that ran one: {ran or '-'})"
    ]


async def _burst_of_each(
    ctx: Bench, workers: Workers, sizes: list[Size], config: dict[str, Any], count: int
) -> list[str]:
    ids = []
    for size in sizes:
        batch, _ = await ctx.node.insert_burst(
            ctx.datasets[size.name], ctx.strategy, config, count, "statement"
        )
        ids += [r[0] for r in batch]
    await ctx.node.wait_all(ids, max([300.0] + [60 + s.timeout for s in sizes]), workers)
    return ids


async def _coverage(ctx: Bench, workers: Workers, ids: list[str]) -> str:
    """Per dataset, how many of the worker processes claimed one of the runs `ids`."""
    coverage = await ctx.node.conn.fetch(
        "SELECT r.dataset_id, count(DISTINCT e.payload ->> 'worker_id') AS workers"
        " FROM runs r JOIN events e ON e.run_id = r.id AND e.event_type = 'claimed'"
        " WHERE r.id = ANY($1::uuid[]) GROUP BY 1",
        ids,
    )
    names = {v: k for k, v in ctx.datasets.items()}
    return ", ".join(
        f"{names[row['dataset_id']]} {row['workers']}/{workers.count}" for row in coverage
    )


async def probe_artifacts_off(ctx: Bench, workers: Workers) -> str:
    run_id, _, _ = await ctx.node.insert_one(
        ctx.datasets["small"], ctx.strategy, {**CONFIG, **ARTIFACTS_OFF}
    )
    await ctx.node.wait_all([run_id], 120, workers)
    seen = ctx.node.notified[run_id]
    if seen.status != "succeeded":
        return f"not supported by this worker (the run {seen.status}: {seen.error_type})"
    rows = await ctx.node.conn.fetchval(
        "SELECT count(*) FROM artifacts WHERE run_id = $1::uuid", run_id
    )
    if rows:
        return f"not supported by this worker (config.artifacts=[] ignored: {rows} artifact rows)"
    return "supported"


async def real_workers(
    ctx: Bench, count: int, sizes: list[Size]
) -> tuple[list[Scenario], list[str]]:
    workers = Workers(
        ctx.env,
        count,
        None,
        ctx.args.concurrency,
        ctx.dirs["logs"],
        f"real-{count}w",
    )
    scenarios: list[Scenario] = []
    notes: list[str] = []
    workers.start()
    try:
        await workers.ready(ctx.node.conn)
        if not ctx.args.no_warmup:
            notes += [f"{count} worker(s) {line}" for line in await warm_up(ctx, workers, sizes)]
        if "off" in ctx.args.artifacts and ctx.artifacts_off == "untested":
            ctx.artifacts_off = await probe_artifacts_off(ctx, workers)
            print(f"artifacts-off: {ctx.artifacts_off}", flush=True)
        modes = [("default", CONFIG)] if "default" in ctx.args.artifacts else []
        if "off" in ctx.args.artifacts and ctx.artifacts_off == "supported":
            modes.append(("off", {**CONFIG, **ARTIFACTS_OFF}))
        for size in sizes:
            if ctx.args.quick and size.name == "large" and count != max(ctx.args.worker_counts):
                continue  # --quick: the large size with the largest worker count only
            if "latency" in ctx.args.scenarios and size.latency_runs:
                for s in await latency_scenarios(ctx, size, workers, modes, size.latency_runs):
                    scenarios.append(s)
                    progress(s)
            for label, config in modes:
                if "burst" in ctx.args.scenarios and size.burst_runs:
                    s = await burst_scenario(ctx, size, workers, config, label, size.burst_runs)
                    scenarios.append(s)
                    progress(s)
    finally:
        workers.stop()
    return scenarios, notes


async def noop_ceiling(ctx: Bench, count: int) -> Scenario:
    workers = Workers(
        ctx.env, count, NOOP_HANDLER, ctx.args.concurrency, ctx.dirs["logs"], f"noop-{count}w"
    )
    workers.start()
    try:
        await workers.ready(ctx.node.conn)
        noop = Size("no-op", ("-",), 0, "-", 0, ctx.args.noop_runs, 0.5)
        ctx.datasets["no-op"] = ctx.datasets["small"]
        scenario = await burst_scenario(
            ctx, noop, workers, CONFIG, "n/a", ctx.args.noop_runs, kind="noop"
        )
        progress(scenario)
        return scenario
    finally:
        workers.stop()
