"""Engine and session factories built from Settings; pooling follows the environment."""

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from worker.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """Production and staging pool (default 20 + 10 overflow); development uses NullPool."""
    pool_size = settings.effective_pool_size
    if pool_size is None:
        return create_async_engine(
            settings.sqlalchemy_url, echo=settings.database_echo, poolclass=NullPool
        )
    return create_async_engine(
        settings.sqlalchemy_url,
        echo=settings.database_echo,
        pool_size=pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
