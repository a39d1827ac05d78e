"""`backtest-worker serve`: the HTTP API under uvicorn. It never executes a backtest."""

from __future__ import annotations

import typer

from worker.cli.app import app, settings_from


@app.command()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Default API_HOST (0.0.0.0)."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Default API_PORT."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes; default API_WORKERS (1)."
    ),
) -> None:
    """Serve the HTTP API (/api/v1) with uvicorn."""
    settings = settings_from(ctx, api_host=host, api_port=port, api_workers=workers)
    settings.require_database_url()
    import uvicorn

    from worker.api.logging import log_config

    uvicorn.run(
        "worker.api.app:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        proxy_headers=True,
        server_header=False,
        log_level=settings.log_level.lower(),
        log_config=log_config(),
        timeout_graceful_shutdown=10,
    )
