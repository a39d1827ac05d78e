"""Engine and session factories built from Settings; pooling follows the environment."""

import uuid
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from worker.config import Settings


def _unique_statement_name() -> str:
    """A name no other client of a shared server connection can have taken already."""
    return f"__sqlalchemy_{uuid.uuid4().hex}__"


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """Production and staging pool (default 20 + 10 overflow); development uses NullPool.

    Connections are opened by asyncpg from DATABASE_URL as libpq reads it (the worker's own
    DSN), so every form it accepts (`?password=`, `sslpassword=`, `host=/socket/dir`) works
    for SQLAlchemy too. Behind a transaction-mode pooler (DATABASE_STATEMENT_CACHE=0) both
    statement caches are off, asyncpg's and the dialect's own, and the dialect's prepared
    statements get unique names (it prepares every statement, inside its transaction).
    """
    dsn = settings.asyncpg_dsn
    options = settings.asyncpg_options
    adapter_options: dict[str, Any] = {}
    if settings.transaction_pooled:
        adapter_options = {
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        }

    async def connect() -> Any:
        return await asyncpg.connect(dsn, **options)

    def creator() -> Any:
        # what create_async_engine(async_creator=) does, plus the dialect's own options
        return engine.sync_engine.dialect.dbapi.connect(  # type: ignore[union-attr]
            async_creator_fn=connect, **adapter_options
        )

    engine = _engine(settings, pooled, creator)
    return engine


def _engine(settings: Settings, pooled: bool, creator: Any) -> AsyncEngine:
    pool_size = settings.effective_pool_size
    if pool_size is None or not pooled:
        return create_async_engine(
            settings.sqlalchemy_url,
            echo=settings.database_echo,
            poolclass=NullPool,
            creator=creator,
        )
    return create_async_engine(
        settings.sqlalchemy_url,
        creator=creator,
        echo=settings.database_echo,
        pool_size=pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
