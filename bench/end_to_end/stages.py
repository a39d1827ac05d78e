"""Each stage's share of INSERT commit → run_completed, from what the worker records."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.end_to_end.node import RunSample

STAGES = ("claim", "load", "simulate", "render", "store", "complete", "other")
LIFECYCLE_EXCLUDED = ("trade_entry", "trade_exit", "metrics")


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _flat_timings(raw: Any) -> dict[str, float]:
    """Numeric entries of runs.metadata.timings, nested objects flattened with dots."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in _flat_timings(value).items()})
            elif (number := _seconds(value)) is not None:
                out[str(key)] = number
    return out


# Bare keys that are worker stages. Not `load` or `simulate`: bare, those are the engine's
# own sub-stages (preparing the bars, the simulation loop), inside timings.total.
BARE_STAGE_KEYS = ("render", "store")


def _recorded(timings: dict[str, float], stage: str) -> tuple[float | None, str | None]:
    """A worker-recorded duration for a stage: `<stage>_seconds` (top level or nested), or
    for render and store also the bare `<stage>` key."""
    names = [f"{stage}_seconds", *([stage] if stage in BARE_STAGE_KEYS else [])]
    for name in names:
        for key, value in timings.items():
            if key == name or key.endswith(f".{name}"):
                return value, f"timings.{key}"
    return None, None


@dataclass
class StageRow:
    stage: str
    mean_ms: float | None
    share: float | None
    source: str


@dataclass
class StageReport:
    runs: int
    total_ms: float
    rows: list[StageRow]
    notes: list[str]
    timings_mean_ms: dict[str, float]
    events_seen: list[str]
    artifacts_per_run: float
    artifact_mb_per_run: float
    render_includes_store: bool


async def derive_stages(
    conn: asyncpg.Connection, samples: Sequence[RunSample], clock_offset: float, burst: bool
) -> StageReport | None:
    """Per-stage durations from events, runs timestamps and runs.metadata.timings.

    Spans on the wall clock (database timestamps moved to the client's clock by the measured
    offset; both are this machine's clock):
      A  INSERT commit → `claimed` event (runs.started_at): claim (wake-up + claim statement
         until its transaction began; in a burst also the time queued)
      B  `claimed` → `simulation_started` (or `dataset_loaded`): load (the rest of the claim
         statement, the run's inputs, dataset read and hash check, two event INSERTs)
      C  `simulation_started` → runs.finished_at: simulate + render + store (+ hand-off to
         the completer); split by timings.simulate_seconds|total, render_seconds, store_seconds
      D  runs.finished_at → run_completed received: complete (the final transaction: fenced
         UPDATE, artifact rows, trade-event COPY, commit, NOTIFY delivery), less
         timings.store_wait (its wait for the run's pending files), which is counted in store
    finished_at is the final transaction's now(), i.e. its start.
    """
    done = [s for s in samples if s.status == "succeeded"]
    if not done:
        return None
    ids = [s.run_id for s in done]
    runs = {
        str(r["id"]): r
        for r in await conn.fetch(
            "SELECT id, started_at, finished_at, metadata -> 'timings' AS timings"
            " FROM runs WHERE id = ANY($1::uuid[])",
            ids,
        )
    }
    events: dict[str, dict[str, float]] = {}
    seen: set[str] = set()
    for row in await conn.fetch(
        "SELECT run_id, event_type, timestamp FROM events"
        " WHERE run_id = ANY($1::uuid[]) AND event_type <> ALL($2::text[]) ORDER BY id",
        ids,
        list(LIFECYCLE_EXCLUDED),
    ):
        seen.add(row["event_type"])
        # the last attempt's events win (a retried run has several `claimed`)
        events.setdefault(str(row["run_id"]), {})[row["event_type"]] = (
            row["timestamp"].timestamp() - clock_offset
        )
    artifacts = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM artifacts"
        " WHERE run_id = ANY($1::uuid[])",
        ids,
    )

    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    sources: dict[str, set[str]] = {stage: set() for stage in STAGES}
    timing_values: dict[str, list[float]] = {}
    totals: list[float] = []
    missing: set[str] = set()
    has_render = has_store = False

    for sample in done:
        run, ev = runs[sample.run_id], events.get(sample.run_id, {})
        timings = _flat_timings(run["timings"])
        for key, value in timings.items():
            timing_values.setdefault(key, []).append(value)

        def db_time(column: str) -> float | None:
            value = run[column]  # noqa: B023 (used at once)
            return None if value is None else value.timestamp() - clock_offset

        claimed, claim_source = ev.get("claimed"), "events.claimed"
        if claimed is None:
            claimed, claim_source = db_time("started_at"), "runs.started_at"
            missing.add("claimed event")
        sim_start, sim_source = ev.get("simulation_started"), "simulation_started"
        if sim_start is None:
            sim_start, sim_source = ev.get("dataset_loaded"), "dataset_loaded"
            missing.add("simulation_started event")
        finished, finished_source = db_time("finished_at"), "runs.finished_at"
        if finished is None:
            finished, finished_source = ev.get("completed"), "events.completed"
        if claimed is None or finished is None:
            missing.add("claim or finish time")
            continue
        totals.append(sample.notify_wall - sample.commit_wall)
        stage = dict.fromkeys(STAGES, 0.0)
        stage["claim"] = claimed - sample.commit_wall
        sources["claim"].add(f"INSERT commit → {claim_source}")
        stage["complete"] = sample.notify_wall - finished
        sources["complete"].add(f"{finished_source} → run_completed received")
        load, load_key = _recorded(timings, "load")
        simulate, simulate_key = _recorded(timings, "simulate")
        if simulate is None:  # the engine's own total (top level today, maybe nested later)
            for key, value in timings.items():
                if key == "total" or (key.endswith(".total") and key.count(".") == 1):
                    simulate, simulate_key = value, f"timings.{key} (engine)"
                    break
        render, render_key = _recorded(timings, "render")
        store, store_key = _recorded(timings, "store")
        has_render |= render is not None
        has_store |= store is not None

        if sim_start is None:  # no event between claim and finish: B and C are one span
            span_b, span_c = 0.0, finished - claimed
            missing.add("dataset_loaded event")
        else:
            span_b, span_c = sim_start - claimed, finished - sim_start
        if load is not None:
            stage["load"] = load
            stage["other"] += span_b - load
            sources["load"].add(load_key or "")
            if sim_start is None:
                span_c -= load
        elif sim_start is not None:
            stage["load"] = span_b
            sources["load"].add(f"{claim_source} → {sim_source}")
        rest = span_c
        for name, value, key in (
            ("simulate", simulate, simulate_key),
            ("render", render, render_key),
            ("store", store, store_key),
        ):
            if value is not None:
                stage[name] = value
                rest -= value
                sources[name].add(key or "")
        # The final transaction's wait for the run's pending files (inside D) is store time.
        wait = timings.get("store_wait")
        if wait is not None:
            stage["store"] += wait
            stage["complete"] -= wait
            sources["store"].add("timings.store_wait (taken from complete)")
        if sim_start is None and load is None:
            stage["load"] = rest  # not separable: see the notes
            sources["load"].add(f"{claim_source} → {finished_source} minus the recorded stages")
        elif render is None and store is None:
            stage["render"] = rest  # render + store + hand-off: see the notes
            sources["render"].add(f"{sim_source} → {finished_source} minus {simulate_key}")
        else:
            stage["other"] += rest
        for name in STAGES:
            per_stage[name].append(stage[name])

    if not per_stage["claim"]:
        return None
    total_ms = statistics.fmean(totals) * 1000
    notes = _stage_notes(has_render, has_store, burst, missing)
    rows = []
    for name in STAGES:
        values = per_stage[name]
        if name == "other" and not any(abs(v) > 1e-9 for v in values):
            continue
        if not sources[name] and name != "other":
            rows.append(StageRow(name, None, None, "not recorded"))
            continue
        mean = statistics.fmean(values) * 1000
        source = "; ".join(sorted(sources[name])) or "remainder of the recorded spans"
        rows.append(StageRow(name, mean, mean / total_ms, source))
    n_art, n_bytes = int(artifacts["n"]), int(artifacts["bytes"])
    return StageReport(
        runs=len(per_stage["claim"]),
        total_ms=total_ms,
        rows=rows,
        notes=notes,
        timings_mean_ms={k: statistics.fmean(v) * 1000 for k, v in sorted(timing_values.items())},
        events_seen=sorted(seen),
        artifacts_per_run=n_art / len(done),
        artifact_mb_per_run=n_bytes / len(done) / 1e6,
        render_includes_store=not has_render and not has_store,
    )


def _stage_notes(has_render: bool, has_store: bool, burst: bool, missing: set[str]) -> list[str]:
    """What the stage figures include, where the worker records too little to split them."""
    notes: list[str] = []
    if not has_render and not has_store:
        notes.append(
            "render and store are not separable at this commit: both happen in one worker step"
            " (render_files + store_files), followed by the trade-event CSV and the hand-off to"
            " the completer, with no event or timing between or after them; the 'render' column"
            " is render + store + hand-off (simulation_started → finished_at minus the engine's"
            " timings.total), 'store' is n/a"
        )
    elif not has_store:
        notes.append("store not recorded (no timings.store_seconds): it is inside 'other'")
    elif not has_render:
        notes.append("render not recorded (no timings.render_seconds): it is inside 'other'")
    notes.append(
        "the final transaction's database writes (artifact rows, trade-event COPY, metrics"
        " event, status UPDATE, commit) are inside 'complete': finished_at is its start and"
        " nothing is recorded inside it"
    )
    notes.append(
        "'claim' starts when the INSERT's commit acknowledgement reached the client; the"
        " worker, woken by the same commit, can begin its claim a little earlier (hence"
        " values at or below 0 on an idle worker)"
    )
    if burst:
        notes.append("burst: 'claim' includes the time each run waited in the queue")
    if missing:
        notes.append(f"missing for some runs (fallbacks used): {', '.join(sorted(missing))}")
    return notes
