"""API keys on every route but the health checks: `Authorization: Bearer <key>`.

No key, an unknown or a revoked key is 401; a read key on a write route is 403; then the
key's rate limit (429 with Retry-After). Browsers cannot set headers on an EventSource or a
WebSocket, so the two stream routes also take the key as `?access_token=`.

Known keys are cached for a minute; a revocation (`api_key_revoked`, sent by a trigger)
clears the cache at once, and so does a reconnect of the LISTEN connection.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import asyncpg
from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from worker.admin.apikeys import Scope, hash_key
from worker.api import queries
from worker.api.problems import Problem

if TYPE_CHECKING:
    from worker.api.context import ApiContext

CACHE_SECONDS = 60.0
CACHE_MAX = 10_000
_bearer = HTTPBearer(
    auto_error=False, description="an API key from `backtest-worker apikey create`"
)


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    name: str
    scope: Scope


class KeyCache:
    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Principal]] = {}

    def clear(self) -> None:
        self._known.clear()

    async def lookup(self, pool: asyncpg.Pool, secret: str) -> Principal | None:
        digest = hash_key(secret)
        hit = self._known.get(digest)
        now = time.monotonic()
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        row = await queries.api_key(pool, digest)
        if row is None:
            self._known.pop(digest, None)
            return None
        principal = Principal(row["id"], row["name"], Scope(row["scope"]))
        if len(self._known) >= CACHE_MAX:
            self._known.clear()
        self._known[digest] = (now, principal)
        return principal


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, detail, slug="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


async def authorize(context: ApiContext, secret: str | None, needs: Scope) -> Principal:
    if not secret:
        raise _unauthorized("send an API key: Authorization: Bearer <key>")
    principal = await context.keys.lookup(context.pool, secret)
    if principal is None:
        raise _unauthorized("the API key is unknown or revoked")
    if needs is Scope.WRITE and principal.scope is not Scope.WRITE:
        raise Problem(403, "this route needs a key with the write scope", slug="forbidden")
    wait = await context.limiter.retry_after(str(principal.key_id))
    if wait is not None:
        raise Problem(
            429,
            f"rate limit of {context.settings.api_rate_limit} per key exceeded",
            slug="rate-limited",
            headers={"Retry-After": str(wait)},
        )
    return principal


def _context(connection: HTTPConnection) -> ApiContext:
    context: ApiContext = connection.app.state.api
    return context


def requires(needs: Scope, *, query_token: bool = False) -> object:
    """A dependency: the caller's key, checked for `needs` and counted by the rate limit."""

    async def dependency(
        connection: HTTPConnection,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal:
        secret = credentials.credentials if credentials else None
        if secret is None and query_token:
            secret = connection.query_params.get("access_token")
        return await authorize(_context(connection), secret, needs)

    return Depends(dependency)


ReadKey = Annotated[Principal, requires(Scope.READ)]
WriteKey = Annotated[Principal, requires(Scope.WRITE)]
StreamKey = Annotated[Principal, requires(Scope.READ, query_token=True)]
