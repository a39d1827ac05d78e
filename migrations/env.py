"""Alembic environment (async).

The database comes from `config.attributes["database_url"]` when a caller hands one over
(`backtest-worker migrate`, the tests), else from DATABASE_URL.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import URL, Connection

from worker.config import Settings, load_settings
from worker.db import Base
from worker.db.session import create_engine

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _settings() -> Settings:
    given = context.config.attributes.get("database_url")
    return load_settings() if given is None else load_settings(database_url=given)


def _database_url() -> URL:
    return _settings().sqlalchemy_url


async def _run_async() -> None:
    engine = create_engine(_settings(), pooled=False)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=_database_url().render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    asyncio.run(_run_async())


if context.is_offline_mode():
    run_offline()
else:
    run_online()
