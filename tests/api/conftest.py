"""Each API test gets its own database and its own `backtest-worker serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.api.server import ApiServer, add_key, bearer


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[ApiServer]:
    server = ApiServer(database_url, tmp_path)
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(api: ApiServer, conn: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a write key."""
    secret = await add_key(conn, "write")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret), timeout=60) as http:
        yield http
