"""CPU time of processes, from Linux /proc: a figure that holds on a machine shared with
other work (unlike a rate), and that says which side — the client, our process or
PostgreSQL — is the limit."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes; a process that is gone
    counts 0, so take both snapshots while they live."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def with_children(pid: int) -> list[int]:
    """`pid` and its child processes (uvicorn's workers, say)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return [pid, *children]


async def backend_pids(connection: asyncpg.Connection) -> list[int]:
    """The server processes of every other session on this connection's database."""
    rows = await connection.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return [int(row["pid"]) for row in rows]
