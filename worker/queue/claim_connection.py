"""The claim connection's planner setting, where a session cannot carry it.

Directly, the claimer sets `enable_bitmapscan = off` once, as a startup parameter of its own
connection (see `producer`). Through a transaction-mode pooler that is impossible: PgBouncer
refuses unknown startup parameters, and a session `SET` would land on whichever server
connection runs the statement and then leak to other clients. So behind a pooler each claim
runs in a transaction of its own that sets it with `SET LOCAL` first.
"""

from __future__ import annotations

from typing import Any

import asyncpg

PLANNER_SETTINGS = {"enable_bitmapscan": "off"}
_SET_LOCAL = "SET LOCAL enable_bitmapscan = off"


class TransactionScopedClaimConnection(asyncpg.Connection):
    """An asyncpg connection (`connection_class=`) whose `fetch` — the claim — runs with the
    claimer's planner setting in a transaction of its own. Its small reads (`fetchval`) do
    not need it."""

    async def fetch(self, query: str, *args: Any, **options: Any) -> list[Any]:
        async with self.transaction():
            await self.execute(_SET_LOCAL)
            rows: list[Any] = await super().fetch(query, *args, **options)
        return rows
