"""The printed tables and the progress lines."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence

from bench.end_to_end.figures import Scenario
from bench.end_to_end.stages import STAGES


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """Columns from `right` on are right-aligned."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < right else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def failures(s: Scenario) -> str:
    return ", ".join(f"{n} {k}" for k, n in s.failed.items()) or "-"


def progress(s: Scenario) -> None:
    rate = f", {s.runs_per_s:.2f} runs/s" if s.runs_per_s else ""
    print(
        f"  done: {s.title}: {s.succeeded}/{s.runs} succeeded, p50 {fmt(s.p50_ms)} ms{rate}",
        file=sys.stderr,
        flush=True,
    )


Column = Callable[[Scenario], str]

COLUMNS: dict[str, Column] = {
    "size": lambda s: s.size,
    "workers": lambda s: str(s.workers),
    "artifacts": lambda s: s.artifacts,
    "runs": lambda s: str(s.runs),
    "ok": lambda s: str(s.succeeded),
    "runs/s": lambda s: fmt(s.runs_per_s, 2),
    "runs/s from commit": lambda s: fmt(s.runs_per_s_from_commit, 2),
    "elapsed s": lambda s: fmt(s.elapsed_s, 2),
    "p50 ms": lambda s: fmt(s.p50_ms),
    "p99 ms": lambda s: fmt(s.p99_ms),
    "max ms": lambda s: fmt(s.max_ms),
    "mean ms": lambda s: fmt(s.mean_ms),
    "not ok": failures,
    "CPU ms/run: workers": lambda s: fmt(s.worker_cpu_ms),
    "PostgreSQL": lambda s: fmt(s.server_cpu_ms),
}
# no-op rates are in the hundreds: no decimals
NOOP_COLUMNS: dict[str, Column] = {
    **COLUMNS,
    "runs/s": lambda s: fmt(s.runs_per_s, 0),
    "runs/s from commit": lambda s: fmt(s.runs_per_s_from_commit, 0),
    "CPU ms/run: workers": lambda s: fmt(s.worker_cpu_ms, 3),
    "PostgreSQL": lambda s: fmt(s.server_cpu_ms, 3),
}
SCENARIO = ("size", "workers", "artifacts", "runs", "ok")
LATENCY = (*SCENARIO, "p50 ms", "p99 ms", "max ms", "mean ms", "not ok")
BURST = (
    *SCENARIO,
    "runs/s",
    "runs/s from commit",
    "elapsed s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "not ok",
    "CPU ms/run: workers",
    "PostgreSQL",
)
NOOP = (
    "workers",
    "runs",
    "ok",
    "runs/s",
    "runs/s from commit",
    "elapsed s",
    "p50 ms",
    "p99 ms",
    "CPU ms/run: workers",
    "PostgreSQL",
)


def scenario_table(
    scenarios: Sequence[Scenario],
    headers: Sequence[str],
    right: int = 1,
    columns: Mapping[str, Column] = COLUMNS,
) -> str:
    return table(headers, [[columns[h](s) for h in headers] for s in scenarios], right)


def stages_section(staged: Sequence[Scenario]) -> list[str]:
    """The stage shares, where each stage comes from, and the worker-recorded timings."""
    reports = [s.stages for s in staged if s.stages is not None]
    out = ["\n== stages: mean ms per succeeded run (share of INSERT commit → run_completed) =="]
    headers = ["scenario", "total ms", *STAGES]
    if all(r.render_includes_store for r in reports):
        headers[headers.index("render")] = "render+store"
    rows = []
    for s in staged:
        assert s.stages is not None
        by = {r.stage: r for r in s.stages.rows}
        cells = []
        for name in STAGES:
            r = by.get(name)
            if r is None or r.mean_ms is None:
                cells.append("n/a" if name in ("render", "store") else "-")
            else:
                cells.append(f"{fmt(r.mean_ms)} {100 * (r.share or 0):.0f}%")
        rows.append([s.title, fmt(s.stages.total_ms), *cells])
    out.append(table(headers, rows))
    out.append("\nwhere each stage comes from:")
    sources: dict[str, set[str]] = {}
    for report in reports:
        for r in report.rows:
            sources.setdefault(r.stage, set()).update(r.source.split("; "))
    for name in STAGES:
        if name in sources:
            out.append(f"  {name:<9} {'; '.join(sorted(sources[name]))}")
    for note in sorted({n for r in reports for n in r.notes}):
        out.append(f"  note: {note}")
    events = sorted({e for r in reports for e in r.events_seen})
    out.append(f"  lifecycle events recorded: {', '.join(events)}")
    out.append("\n== worker-recorded runs.metadata.timings (mean ms) and artifacts per run ==")
    keys = sorted({k for r in reports for k in r.timings_mean_ms})
    out.append(
        table(
            ["scenario", *keys, "artifacts", "MB"],
            [
                [
                    s.title,
                    *(fmt(s.stages.timings_mean_ms.get(k), 2) for k in keys),
                    fmt(s.stages.artifacts_per_run),
                    fmt(s.stages.artifact_mb_per_run, 2),
                ]
                for s in staged
                if s.stages
            ],
        )
    )
    return out


def report(scenarios: list[Scenario], noop: list[Scenario], artifacts_off: str) -> str:
    out: list[str] = []
    latency = [s for s in scenarios if s.kind == "latency"]
    burst = [s for s in scenarios if s.kind == "burst"]
    if latency:
        out.append(
            "\n== latency: one run at a time on an idle worker (INSERT commit → run_completed received) =="
        )
        out.append(scenario_table(latency, LATENCY, right=3))
    if burst:
        out.append(
            "\n== burst: runs inserted in one go (runs/s: first INSERT → last run_completed) =="
        )
        out.append(scenario_table(burst, BURST, right=3))
    if artifacts_off.startswith("not supported"):
        out.append(f"\nartifacts-off: {artifacts_off}")
    staged = [s for s in scenarios if s.stages is not None]
    if staged:
        out += stages_section(staged)
    if noop:
        out.append(
            "\n== no-op ceiling: same worker processes, handler bench.queue_throughput:noop =="
        )
        out.append(scenario_table(noop, NOOP, columns=NOOP_COLUMNS))
    return "\n".join(out)
