"""What every request needs, built once per process by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from worker.api.auth import KeyCache
from worker.api.hub import Hub
from worker.api.ratelimit import RateLimit
from worker.api.validation import InputsCache
from worker.config import Settings
from worker.storage import FileStore


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    pool: asyncpg.Pool
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub
    keys: KeyCache
    limiter: RateLimit
    artifacts: FileStore
    head_revision: str
    inputs: InputsCache


async def api_context(connection: HTTPConnection) -> ApiContext:
    """The dependency that hands routes the process's context (HTTP and WebSocket). `async`
    so FastAPI calls it on the event loop: a plain `def` dependency runs in the thread pool,
    a thread hop on every request."""
    context: ApiContext = connection.app.state.api
    return context
