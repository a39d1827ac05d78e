"""API keys of the HTTP API: created with a secret shown once, stored as a SHA-256, revoked.

A key is `btk_` and 43 URL-safe characters (256 random bits). With that much entropy a
plain SHA-256 is as safe as a slow password hash and costs microseconds per request.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from worker.db import ApiKey

KEY_PREFIX = "btk_"
SHOWN_PREFIX = 12  # characters of the key kept in clear, to recognise it in `apikey list`


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_api_key(session: AsyncSession, name: str, scope: Scope) -> tuple[ApiKey, str]:
    """Insert a key; returns the row and the secret, which is never stored."""
    if not name.strip():
        raise ValueError("an API key needs a name")
    secret = new_key()
    row = ApiKey(
        name=name.strip(),
        scope=scope.value,
        prefix=secret[:SHOWN_PREFIX],
        key_hash=hash_key(secret),
    )
    session.add(row)
    await session.commit()
    return row, secret


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars())


async def revoke_api_key(session: AsyncSession, which: str) -> list[ApiKey]:
    """Revoke the key with this id, or the keys with this prefix or name; returns them.

    Revoking sends `api_key_revoked` (a trigger), so running API processes stop accepting
    the key at once.
    """
    try:
        match = ApiKey.id == uuid.UUID(which)
    except ValueError:
        match = or_(ApiKey.prefix == which, ApiKey.name == which)
    result = await session.execute(
        update(ApiKey)
        .where(match, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(ApiKey)
    )
    revoked = list(result.scalars())
    await session.commit()
    return revoked
