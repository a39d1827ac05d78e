"""A worker's identity: host, pid and a random suffix, unique across restarts and machines."""

from __future__ import annotations

import os
import secrets
import socket

# Postgres truncates application_name to 63 bytes; keep ids comfortably shorter.
_MAX_HOST = 40


def new_worker_id() -> str:
    """`host:pid:suffix`, e.g. `web-1:4242:9f3a1c`; stored in runs.locked_by."""
    host = socket.gethostname().split(".")[0][:_MAX_HOST] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


def application_name(worker_id: str, role: str) -> str:
    """The application_name of a worker's connections (`role` is `pool`, `listen` or
    `claim`)."""
    return f"backtest-worker/{role}/{worker_id}"[:63]
