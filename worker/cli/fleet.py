"""`backtest-worker pause`, `resume`, `retry RUN_ID` and `workers`: operating the fleet
without stopping it."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import typer
from rich.table import Table

from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.config import Settings
from worker.queue import fleet

T = TypeVar("T")


def operator() -> str:
    """Who paused or resumed, as `queue_state.changed_by` records it."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"[:255]


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = await asyncpg.connect(
            settings.asyncpg_dsn, server_settings={"application_name": "backtest-worker/cli"}
        )
        try:
            return await work(connection)
        finally:
            await connection.close()

    settings.require_database_url()
    try:
        return asyncio.run(main())
    except (OSError, asyncpg.PostgresError) as error:
        raise UserError(
            f"cannot reach the queue at {settings.redacted_database_url}: {error}",
            hint="is DATABASE_URL right, and has `backtest-worker migrate` run?",
        ) from None


@app.command()
def pause(ctx: typer.Context) -> None:
    """Stop every worker from claiming runs (running runs finish; processes keep running)."""
    settings = settings_from(ctx)
    changed = with_connection(settings, lambda db: fleet.set_paused(db, True, operator()))
    err_console.print("queue paused" if changed else "queue was already paused")


@app.command()
def resume(ctx: typer.Context) -> None:
    """Let the workers claim again (they are woken at once)."""
    settings = settings_from(ctx)
    changed = with_connection(settings, lambda db: fleet.set_paused(db, False, operator()))
    err_console.print("queue resumed" if changed else "queue was not paused")


@app.command()
def retry(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="A failed or cancelled run."),
    attempts: int = typer.Option(
        3, "--attempts", min=1, max=100, help="Attempts the retried run may make."
    ),
) -> None:
    """Run a failed or cancelled run again: back to pending with a new attempt budget; its
    events and artifacts stay, its error moves into a `retry_requested` event."""
    try:
        run = uuid.UUID(run_id)
    except ValueError:
        raise UserError(f"run id {run_id!r} is not a UUID", exit_code=2) from None
    settings = settings_from(ctx)

    async def work(db: asyncpg.Connection) -> tuple[fleet.Retried | None, str | None]:
        retried = await fleet.retry_run(db, run, attempts)
        status = None
        if retried is None:
            status = await db.fetchval("SELECT status::text FROM runs WHERE id = $1", run)
        return retried, status

    retried, status = with_connection(settings, work)
    if retried is None:
        if status is None:
            raise UserError(f"no run with id {run}")
        raise UserError(
            f"run {run} is {status}: only a failed or cancelled run can be retried",
            hint="cancel it first to stop it" if status in ("pending", "running") else None,
        )
    err_console.print(
        f"run {run} is pending again (attempts {retried.attempts} of {retried.max_attempts})"
    )
    typer.echo(str(run))


def worker_json(worker: fleet.RegisteredWorker) -> dict[str, Any]:
    return {
        "worker_id": worker.worker_id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "version": worker.version,
        "concurrency": worker.concurrency,
        "state": worker.state,
        "alive": worker.alive,
        "running_runs": worker.running_runs,
        "started_at": worker.started_at.isoformat(),
        "last_beat": worker.last_beat.isoformat(),
    }


@app.command()
def workers(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every registered worker, idle ones too: state, last heartbeat, runs held."""
    settings = settings_from(ctx)
    rows = with_connection(settings, lambda db: fleet.list_workers(db, settings.lease_seconds))
    if as_json:
        typer.echo(json.dumps([worker_json(w) for w in rows], indent=2))
        return
    table = Table(title="Workers")
    for column in ("worker id", "state", "alive", "runs", "concurrency", "version", "last beat"):
        table.add_column(column)
    for w in rows:
        table.add_row(
            w.worker_id,
            w.state,
            "yes" if w.alive else "no",
            str(w.running_runs),
            str(w.concurrency),
            w.version,
            w.last_beat.isoformat(timespec="seconds"),
        )
    console.print(table)
