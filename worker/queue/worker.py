"""The worker process: wires the loops together and runs its lifecycle.

One `Worker` per process. It owns an asyncpg pool (heartbeats, completions, the handler's
queries), and starts the loops, all of one shape (`looper.Loop`): the producer (claims, on
a connection of its own), the listener (one LISTEN connection), the heartbeat, the reaper
and the completer (every final write). The runs themselves live in `runs.Runs`; their CPU
work goes to threads (see `executor`).

Shutdown (first SIGTERM/SIGINT): stop claiming; let in-flight runs finish for
SHUTDOWN_GRACE_SECONDS; then stop the rest, which are handed back to pending with the
attempt not counted; write everything (transient errors retried for one more grace period at
most); close the connections. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog

from worker import __version__
from worker.config import Settings
from worker.db import pools
from worker.db.migrate import schema_problem
from worker.gc_tuning import tune_gc
from worker.observability.probe_server import ProbeServer
from worker.observability.worker_metrics import WorkerMetrics
from worker.queue import fleet, queries
from worker.queue.claim_connection import PLANNER_SETTINGS, TransactionScopedClaimConnection
from worker.queue.completer import Completer
from worker.queue.handler import CancelReason, Handler, RunContext, RunJob
from worker.queue.heartbeat import Heartbeat
from worker.queue.listener import CHANNEL_CANCEL, CHANNEL_PENDING, Listener
from worker.queue.outcome import RetryPolicy
from worker.queue.producer import Producer
from worker.queue.reaper import Reaper
from worker.queue.retention import Retention
from worker.queue.runs import Runs
from worker.queue.worker_id import application_name, new_worker_id
from worker.storage import FileStore

# A `workers` row silent for this many leases is deleted (stopped, or died unannounced).
WORKER_EXPIRY_LEASES = 10
READY_TIMEOUT_SECONDS = 2.0
# Marking the row stopped must not hold up an exit when the database is gone (it expires).
DEREGISTER_TIMEOUT_SECONDS = 2.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        handler: Handler,
        *,
        concurrency: int | None = None,
        burst: bool = False,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.concurrency = concurrency or settings.worker_concurrency
        self.burst = burst
        self.worker_id = worker_id or new_worker_id()
        self.log: Any = structlog.get_logger("worker.queue").bind(worker_id=self.worker_id)
        self._stop_requested = asyncio.Event()
        self._signals = 0
        self._pool: asyncpg.Pool | None = None
        self._producer: Producer | None = None
        self._runs: Runs | None = None
        self._listener: Listener | None = None
        self.metrics = WorkerMetrics()
        self.probe_server: ProbeServer | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the worker is not running"
        return self._pool

    def pool_size(self) -> int:
        return self.settings.db_pool_size or min(self.concurrency + 3, 10)

    async def run(self) -> None:
        """Work until stopped (signal, `request_stop`) or, with `burst`, until drained."""
        settings = self.settings
        dsn = settings.asyncpg_dsn
        self.log.info(
            "worker_starting",
            database=settings.redacted_database_url,
            concurrency=self.concurrency,
            burst=self.burst,
            lease_seconds=settings.lease_seconds,
            poll_interval_seconds=settings.poll_interval_seconds,
        )
        pool = self._pool = await pools.create_pool(
            dsn,
            size=self.pool_size(),
            application_name=application_name(self.worker_id, "pool"),
            **settings.asyncpg_options,
        )
        try:
            problem = schema_problem(await fleet.schema_revision(pool))
        except asyncpg.InsufficientPrivilegeError:  # the table exists: migrate has run
            self.log.warning(
                "schema_revision_unreadable",
                hint="GRANT SELECT ON alembic_version to the worker's role (README, Roles)",
            )
            problem = None
        if problem is not None:
            await pool.close()
            raise fleet.SchemaNotReady(problem)
        tune_gc()  # after the schema check: the migration scripts it loaded stay for good
        metrics = self.metrics
        metrics.concurrency.set(self.concurrency)
        completer = Completer(
            pool,
            self.worker_id,
            retry_for_seconds=settings.lease_seconds,
            log=self.log,
            policy=RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds),
        )
        runs = self._runs = Runs(
            settings,
            self.handler,
            completer,
            context=self._context,
            on_slot_free=self._wake_producer,
            log=self.log,
            metrics=metrics,
        )
        metrics.read_slots(
            lambda: len(runs.active),
            lambda: 0 if self._stopping else self.concurrency - runs.executing,
        )
        producer = self._producer = Producer(
            self._connect_claimer,
            self.worker_id,
            lease_seconds=settings.lease_seconds,
            poll_interval=settings.poll_interval_seconds,
            burst=self.burst,
            burst_horizon=settings.retry_max_seconds,
            free_slots=lambda: 0 if self._stopping else self.concurrency - runs.executing,
            busy=lambda: bool(runs.active),
            max_claim=max(1, (self.concurrency + 1) // 2),
            start=runs.start,
            on_claimed=self._claimed,
            log=self.log,
        )
        listener = Listener(
            settings.listen_dsn,
            application_name=application_name(self.worker_id, "listen"),
            channels={
                CHANNEL_PENDING: lambda _channel, _payload: producer.wake(),
                CHANNEL_CANCEL: lambda _channel, payload: runs.on_cancel_notification(payload),
            },
            on_connected=self._listen_connected,
            health_check_seconds=max(1.0, min(settings.poll_interval_seconds, 15.0)),
            log=self.log,
        )
        self._listener = listener
        heartbeat = Heartbeat(
            pool,
            self.worker_id,
            interval=settings.effective_heartbeat_seconds,
            lease_seconds=settings.lease_seconds,
            held=runs.held,
            on_result=self._heartbeat_answered,
            beat=self._beat,
            log=self.log,
        )
        reaper = Reaper(
            pool,
            interval=min(settings.poll_interval_seconds, settings.lease_seconds),
            log=self.log,
            worker_expiry=WORKER_EXPIRY_LEASES * settings.lease_seconds,
            on_reaped=lambda status: metrics.leases_reaped.labels(status).inc(),
        )
        background: list[Any] = [completer, listener, heartbeat, reaper]
        if settings.retention_days is not None:
            background.append(
                Retention(
                    pool,
                    FileStore(settings.artifact_dir),
                    older_than_seconds=settings.retention_days * 86400,
                    interval=settings.retention_interval_seconds,
                    log=self.log,
                    on_deleted=metrics.retention_deleted.inc,
                )
            )
        if settings.metrics_port is not None:
            self.probe_server = ProbeServer(
                settings.metrics_host,
                settings.metrics_port,
                registry=metrics.registry,
                readiness=self._readiness,
                log=self.log,
            )
            background.append(self.probe_server)
        for loop in [*background, producer]:
            loop.start()
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({producer.done, stop}, return_when=asyncio.FIRST_COMPLETED)
            await producer.stop()
            await self._drain(runs, completer)
        finally:
            stop.cancel()
            await producer.stop()
            for loop in background:  # the completer first: it writes what is left
                await loop.stop()
            try:
                await asyncio.wait_for(
                    fleet.worker_stopped(pool, self.worker_id), DEREGISTER_TIMEOUT_SECONDS
                )
            except Exception as error:  # the row expires by itself
                self.log.warning("worker_deregister_failed", error=repr(error))
            await pool.close()
            self.log.info("worker_stopped")

    async def _connect_claimer(self) -> asyncpg.Connection:
        settings = self.settings
        server_settings = {"application_name": application_name(self.worker_id, "claim")}
        if settings.transaction_pooled:
            connection_class: type[asyncpg.Connection] = TransactionScopedClaimConnection
        else:
            connection_class = asyncpg.Connection
            server_settings |= PLANNER_SETTINGS
        connection = await asyncpg.connect(
            settings.asyncpg_dsn,
            timeout=10,
            server_settings=server_settings,
            connection_class=connection_class,
            **settings.asyncpg_options,
        )
        await pools.setup_connection(connection)
        return connection

    def _context(self, job: RunJob, timeout: float) -> RunContext:
        return RunContext(
            job=job,
            pool=self.pool,
            settings=self.settings,
            log=self.log,
            timeout_seconds=timeout,
            loop=asyncio.get_running_loop(),
            progress_writer=self._write_progress,
        )

    async def _write_progress(self, job: RunJob, payload: dict[str, Any]) -> None:
        await queries.write_progress(self.pool, job.id, self.worker_id, job.attempt, payload)

    def _claimed(self, seconds: float, jobs: Sequence[RunJob]) -> None:
        self.metrics.claimed(seconds, [job.queue_wait_seconds for job in jobs])

    def _listen_connected(self) -> None:
        if self._listener is not None and self._listener.connections > 1:
            self.metrics.listen_reconnects.inc()
        self._wake_producer()

    def _heartbeat_answered(self, held: Any, alive: dict[Any, bool]) -> None:
        self.metrics.lease_renewals.inc(len(alive))
        if self._runs is not None:
            self._runs.on_heartbeat(held, alive)

    def _beat(self) -> queries.WorkerBeat:
        return queries.WorkerBeat(
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            version=__version__,
            concurrency=self.concurrency,
            state="stopping" if self._stopping else "running",
        )

    async def _readiness(self) -> dict[str, Any]:
        """Ready: the pool answers, the LISTEN connection is up, and not shutting down."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await self.pool.fetchval("SELECT 1")
            database = True
        except Exception:
            database = False
        listening = self._listener is not None and self._listener.connected.is_set()
        return {
            "ready": database and listening and not self._stopping,
            "database": database,
            "listening": listening,
            "stopping": self._stopping,
            "worker_id": self.worker_id,
        }

    def _wake_producer(self) -> None:
        if self._producer is not None:
            self._producer.wake()

    @property
    def _stopping(self) -> bool:
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        """Stop claiming and begin the graceful shutdown (idempotent)."""
        if not self._stopping:
            in_flight = 0 if self._runs is None else len(self._runs.active)
            self.log.info("worker_stopping", in_flight=in_flight)
            self._stop_requested.set()
            if self._producer is not None:
                self._producer.request_stop()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            self.log.warning("worker_exiting_now", signal=sig.name)
            os._exit(128 + sig.value)
        self.log.info("signal_received", signal=sig.name)
        self.request_stop()

    async def _drain(self, runs: Runs, completer: Completer) -> None:
        """Grace period for in-flight runs, then stop the rest (handed back) and wait until
        every final write is settled. Writes that meet a transient error (the database is
        briefly unreachable) are retried for one more grace period at most, so the process
        exits within twice SHUTDOWN_GRACE_SECONDS; a run not handed back by then is picked up
        again when its lease expires."""
        grace = self.settings.shutdown_grace_seconds
        if runs.executing:
            self.log.info("shutdown_grace", runs=runs.executing, grace_seconds=grace)
            if grace > 0:
                await runs.wait_handlers(grace)
        completer.retry_until(grace)
        runs.stop_all(CancelReason.SHUTDOWN)
        await runs.wait_settled()


async def run_worker(
    settings: Settings,
    handler: Handler,
    *,
    concurrency: int | None = None,
    burst: bool = False,
    install_signals: bool = True,
) -> Worker:
    worker = Worker(settings, handler, concurrency=concurrency, burst=burst)
    if install_signals:
        worker.install_signal_handlers()
    with contextlib.suppress(asyncio.CancelledError):
        await worker.run()
    return worker
