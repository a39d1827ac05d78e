"""`backtest-worker run`: the queue worker, the product's main process."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from worker.cli.app import UserError, app, database_error, settings_from
from worker.logs import configure_logging

DEFAULT_HANDLER = "worker.pipeline.runner:execute_run"


@app.command()
def run(
    ctx: typer.Context,
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, help="Runs at once (default WORKER_CONCURRENCY)."
    ),
    burst: bool = typer.Option(
        False,
        "--burst",
        help="Drain the queue (retries due within RETRY_MAX_SECONDS included), then exit.",
    ),
    handler: str = typer.Option(
        DEFAULT_HANDLER,
        "--handler",
        envvar="WORKER_HANDLER",
        help="The run handler, as package.module:callable.",
    ),
) -> None:
    """Claim and execute pending runs until SIGTERM/SIGINT (or, with --burst, until drained)."""
    from worker.queue.fleet import SchemaNotReady
    from worker.queue.handler import load_handler
    from worker.queue.worker import run_worker

    settings = settings_from(ctx, worker_concurrency=concurrency)
    settings.require_database_url()
    configure_logging(settings)
    if settings.worker_tune_allocator:
        from worker.engine.tuning import tune_allocator, tune_native_allocators

        # Before the handler is imported: its libraries start threads, and a thread that has
        # allocated has its own glibc arena, which the cap no longer takes back; polars and
        # pyarrow read their allocators' settings when they first allocate.
        tune_allocator()
        tune_native_allocators()
    try:
        run_handler = load_handler(handler)
    except (ImportError, ValueError) as error:
        raise UserError(
            f"cannot load the run handler: {error}",
            hint="pass --handler package.module:callable (or set WORKER_HANDLER)",
            exit_code=2,
        ) from None
    try:
        asyncio.run(run_worker(settings, run_handler, burst=burst))
    except SchemaNotReady as error:
        raise UserError(
            f"cannot work on {settings.redacted_database_url}: {error}",
            hint="run `backtest-worker migrate` (the release step) first",
        ) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise database_error(
            settings,
            "cannot reach PostgreSQL",
            error,
            hint="is the server running, and are DATABASE_URL's user, password and database right?",
        ) from None
