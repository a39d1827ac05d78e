from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.db.connections import worker_connection


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the worker's pool sets it up (JSON codecs), for its statements."""
    connection = await worker_connection(database_url)
    yield connection
    await connection.close()
