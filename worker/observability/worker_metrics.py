"""One worker process's Prometheus metrics, in a registry of its own.

Everything here is a counter, a gauge or a histogram observation on values the worker already
has (a claim's size and time, a run's final state and duration, a heartbeat's answer): no
query is added to any path. In-flight runs and free slots are read when scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

NAMESPACE = "backtest"
# Run durations span a no-op (milliseconds) to a long grid search (an hour).
DURATION_BUCKETS = (0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 300, 900, 3600)
WAIT_BUCKETS = (0.01, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
CLAIM_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # no `_created` series: a second series per counter that no panel or alert reads
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs_claimed = Counter(
            "runs_claimed", "Runs this process claimed.", namespace=NAMESPACE, registry=r
        )
        self.runs_finished = Counter(
            "runs_finished",
            "Final states this process wrote, by state (succeeded, failed, cancelled, "
            "retried, handed_back, abandoned, fenced_off, write_failed) and error type.",
            ["status", "error_type"],
            namespace=NAMESPACE,
            registry=r,
        )
        self._finished_series: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.run_duration = Histogram(
            "run_duration_seconds",
            "From a run's start on this process to its final write, by state.",
            ["status"],
            buckets=DURATION_BUCKETS,
            namespace=NAMESPACE,
            registry=r,
        )
        self.queue_wait = Histogram(
            "run_queue_wait_seconds",
            "From a run's created_at to its claim (database clock).",
            buckets=WAIT_BUCKETS,
            namespace=NAMESPACE,
            registry=r,
        )
        self.claim_latency = Histogram(
            "claim_duration_seconds",
            "Time of one claim statement, round trip included.",
            buckets=CLAIM_BUCKETS,
            namespace=NAMESPACE,
            registry=r,
        )
        self.lease_renewals = Counter(
            "lease_renewals", "Leases extended by the heartbeat.", namespace=NAMESPACE, registry=r
        )
        self.leases_lost = Counter(
            "leases_lost",
            "Runs of this process whose lease had expired and was taken when it heartbeat.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.leases_reaped = Counter(
            "leases_reaped",
            "Expired leases this process's reaper ended, by the state the run went to.",
            ["status"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.listen_reconnects = Counter(
            "listen_reconnects",
            "Times the LISTEN connection was opened again after it was lost.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.runs_in_flight = Gauge(
            "runs_in_flight",
            "Runs this process holds (claimed, final write not yet settled).",
            namespace=NAMESPACE,
            registry=r,
        )
        self.free_slots = Gauge(
            "free_slots",
            "Runs this process could claim now.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.retention_deleted = Counter(
            "retention_runs_deleted",
            "Finished runs this process deleted under RETENTION_DAYS.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.concurrency = Gauge(
            "concurrency", "WORKER_CONCURRENCY of this process.", namespace=NAMESPACE, registry=r
        )

    def read_slots(self, in_flight: Callable[[], float], free: Callable[[], float]) -> None:
        """Gauges read when scraped, from the worker's own counts."""
        self.runs_in_flight.set_function(in_flight)
        self.free_slots.set_function(free)

    def claimed(self, seconds: float, waits: list[float]) -> None:
        self.claim_latency.observe(seconds)
        if waits:
            self.runs_claimed.inc(len(waits))
            for wait in waits:
                self.queue_wait.observe(wait)

    def finished(self, status: str, error_type: str, seconds: float) -> None:
        key = (status, error_type)
        series = self._finished_series.get(key)
        if series is None:  # labels() takes a lock and builds its key on every call
            series = (
                self.runs_finished.labels(status, error_type),
                self.run_duration.labels(status),
            )
            self._finished_series[key] = series
        series[0].inc()
        series[1].observe(seconds)


def final_label(final: Any, written: Any) -> tuple[str, str]:
    """(status, error_type) of a settled final state, as `runs_finished` counts it."""
    from worker.queue.completer import AckLost
    from worker.queue.outcome import Abandon, Cancel, Fail, HandBack, Retry, Succeed

    if isinstance(written, BaseException):
        return "write_failed", ""
    if isinstance(final, Abandon):
        return "abandoned", ""
    if not written and not isinstance(written, AckLost):
        return "fenced_off", ""
    if isinstance(final, Succeed):
        return "succeeded", ""
    if isinstance(final, Fail):
        return "failed", str(final.error.get("type", ""))
    if isinstance(final, Retry):
        return "retried", str(final.error.get("type", ""))
    if isinstance(final, Cancel):
        return "cancelled", ""
    if isinstance(final, HandBack):
        return "handed_back", ""
    return type(final).__name__.lower(), ""
