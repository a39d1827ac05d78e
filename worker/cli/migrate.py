"""`backtest-worker migrate`: bring the database schema to the newest revision."""

from __future__ import annotations

import typer

from worker.cli.app import app, console, settings_from
from worker.db.migrate import upgrade


@app.command()
def migrate(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
) -> None:
    """Apply database migrations (idempotent; run it on every release)."""
    settings = settings_from(ctx)
    url = settings.require_database_url()
    upgrade(url.render_as_string(hide_password=False), revision)
    console.print(f"database at {settings.redacted_database_url} is at revision {revision}")
