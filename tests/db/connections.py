"""Connections set up as the worker's pool sets them up (its JSON codecs), for tests that run
the worker's own statements."""

from __future__ import annotations

import asyncpg

from worker.db import pools


async def worker_connection(database_url: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(database_url)
    await pools.setup_connection(connection)
    return connection
