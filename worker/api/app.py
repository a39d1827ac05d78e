"""The app factory: settings in, a FastAPI app out. uvicorn calls `create_app()` in each of
its worker processes; each process has its own pool, LISTEN connection and key cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from worker import __version__
from worker.api import problems, queries
from worker.api.auth import KeyCache
from worker.api.bodylimit import BodyLimit
from worker.api.context import ApiContext
from worker.api.dashboard import install as install_dashboard
from worker.api.hub import Hub
from worker.api.models import PREFIX
from worker.api.ratelimit import RateLimit
from worker.api.routes import catalog, fleet, health, live, results, runs
from worker.api.shutdown import drain_on_exit
from worker.api.validation import InputsCache
from worker.config import Settings, load_settings
from worker.db.migrate import alembic_config
from worker.db.session import create_engine, create_session_factory
from worker.gc_tuning import tune_gc
from worker.logs import configure_logging
from worker.storage import FileStore

HUB_HEALTH_CHECK_SECONDS = 10.0
DESCRIPTION = """The HTTP face of the backtesting worker's tables (docs/contract.md): the same
INSERT enqueues, the same rows are read, `run_progress` / `run_completed` stream live.
Every route but `/healthz` and `/readyz` needs `Authorization: Bearer <API key>`; errors are
`application/problem+json` (RFC 9457)."""


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://unused/db")).get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    log = structlog.get_logger("worker.api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await queries.create_pool(
            settings.asyncpg_dsn, settings.api_db_pool_size, **settings.asyncpg_options
        )
        # catalog writes are rare: a connection each, so the pool bounds the API's connections
        engine = create_engine(settings, pooled=False)
        keys = KeyCache()
        hub = Hub(
            settings.listen_dsn,
            on_key_revoked=keys.clear,
            health_check_seconds=HUB_HEALTH_CHECK_SECONDS,
            heartbeat_seconds=live.PING_SECONDS,
            log=log,
        )
        hub.start()
        restore_signals = drain_on_exit(hub.drain)
        app.state.api = ApiContext(
            settings=settings,
            pool=pool,
            engine=engine,
            sessions=create_session_factory(engine),
            hub=hub,
            keys=keys,
            limiter=RateLimit(settings.api_rate_limit, settings.api_rate_limit_storage),
            artifacts=FileStore(settings.artifact_dir),
            head_revision=head_revision(),
            inputs=InputsCache(),
        )
        log.info("api_started", cors_origins=list(settings.api_cors_origins))
        tune_gc()  # routes, models and pools are built: they stay for the process's life
        try:
            yield
        finally:
            restore_signals()
            await hub.stop()
            await pool.close()
            await engine.dispose()

    configure_logging(settings)
    app = FastAPI(
        title="AITradePro backtest API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(fleet.metrics_router)
    for module in (runs, results, live, catalog, fleet):
        app.include_router(module.router, prefix=PREFIX)
    install_dashboard(app)
    app.add_middleware(
        BodyLimit, max_body=settings.api_max_body_bytes, max_upload=settings.api_max_upload_bytes
    )
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api_cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "Retry-After", "ETag", "Idempotent-Replayed"],
            max_age=600,
        )
    return app
