"""Engine and session factories built from Settings; pooling follows the environment."""

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


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """Production and staging pool (default 20 + 10 overflow); development uses NullPool.

    Connections are opened by asyncpg from DATABASE_URL as libpq reads it (the worker's own
    DSN), so every form it accepts (`?password=`, `sslpassword=`, `host=/socket/dir`) works
    for SQLAlchemy too.
    """
    dsn = settings.asyncpg_dsn

    async def connect() -> Any:
        return await asyncpg.connect(dsn)

    pool_size = settings.effective_pool_size
    if pool_size is None or not pooled:
        return create_async_engine(
            settings.sqlalchemy_url,
            echo=settings.database_echo,
            poolclass=NullPool,
            async_creator=connect,
        )
    return create_async_engine(
        settings.sqlalchemy_url,
        async_creator=connect,
        echo=settings.database_echo,
        pool_size=pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
