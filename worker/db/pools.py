"""The asyncpg pools of the worker and the API, and the codecs of every connection.

A pool's connections run statements and transactions only: no session `SET`, `LISTEN` (each
process has one LISTEN connection of its own), cursors kept across releases or advisory locks
left held (retention unlocks its own in a `finally`). So a release skips asyncpg's default
reset, which sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` and
waits for it: one round trip more for every acquire, as many as the statements themselves on
the API's hot path. An open transaction is still rolled back, and listeners are still
removed, by asyncpg before the reset hook runs.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from worker import jsonsafe


async def setup_connection(connection: asyncpg.Connection) -> None:
    """JSON codecs that never send NaN/Infinity (JSONB rejects them).

    They use the binary wire format, so that binary COPY (`copy_records_to_table`) can write
    JSON and JSONB columns too.
    """
    for name, encode, decode in (
        ("jsonb", jsonsafe.encode_jsonb, jsonsafe.decode_jsonb),
        ("json", jsonsafe.encode_json, jsonsafe.decode_json),
    ):
        await connection.set_type_codec(
            name, encoder=encode, decoder=decode, schema="pg_catalog", format="binary"
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release without the reset round trip (see the module docstring)."""


async def create_pool(
    dsn: str, *, size: int, application_name: str, **options: Any
) -> asyncpg.Pool:
    """`options`: asyncpg's own, such as `statement_cache_size` (Settings.asyncpg_options)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=setup_connection,
        reset=_keep_session,
        server_settings={"application_name": application_name},
        **options,
    )
