"""`backtest-worker migrate`: bring the database schema to the newest revision."""

from __future__ import annotations

import asyncpg
import typer
from sqlalchemy.exc import DBAPIError

from worker.cli.app import app, console, database_error, settings_from
from worker.db.migrate import upgrade


@app.command()
def migrate(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
) -> None:
    """Apply database migrations (idempotent; run it on every release)."""
    settings = settings_from(ctx)
    url = settings.require_database_url()
    try:
        upgrade(url.render_as_string(hide_password=False), revision)
    except (OSError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise database_error(
            settings,
            "cannot migrate the database",
            error,
            hint="is the server up, and may DATABASE_URL's role create tables (the owner role)?",
        ) from None
    console.print(f"database at {settings.redacted_database_url} is at revision {revision}")
