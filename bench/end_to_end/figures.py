"""The figures one scenario produced (printed as tables, written as JSON)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.end_to_end.node import RunSample
from bench.end_to_end.stages import StageReport
from bench.queue_throughput import percentile


@dataclass
class Scenario:
    kind: str  # latency | burst | noop
    size: str
    workers: int
    artifacts: str  # default | off
    runs: int
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    runs_per_s: float | None = None
    runs_per_s_from_commit: float | None = None
    elapsed_s: float | None = None
    worker_cpu_ms: float | None = None  # per run: the worker processes, user + system
    server_cpu_ms: float | None = None  # per run: the PostgreSQL backends of the database
    latencies_ms: list[float] = field(default_factory=list)
    stages: StageReport | None = None

    @property
    def title(self) -> str:
        return f"{self.size} {self.kind} {self.workers}w art={self.artifacts}"


def summarise(scenario: Scenario, samples: Sequence[RunSample]) -> None:
    latencies = [s.latency * 1000 for s in samples]
    scenario.latencies_ms = [round(v, 3) for v in latencies]
    scenario.succeeded = sum(s.status == "succeeded" for s in samples)
    for s in samples:
        if s.status != "succeeded":
            key = f"{s.status}:{s.error_type}"
            scenario.failed[key] = scenario.failed.get(key, 0) + 1
    if latencies:
        scenario.p50_ms = percentile(latencies, 0.5)
        scenario.p99_ms = percentile(latencies, 0.99)
        scenario.max_ms = max(latencies)
        scenario.mean_ms = statistics.fmean(latencies)
