"""A PgBouncer process of a test's (or benchmark's) own, in transaction mode, on a free port in
front of a PostgreSQL server (trust auth). Debian's `pgbouncer` package provides the binary.

The server pool is small (`pool_size`, default 4 server connections per database and user), so
that the worker's clients really share server connections, as they do behind a managed pooler:
a statement that outlived its transaction would be found missing, or taken, on the next.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

SBIN = "/usr/sbin/pgbouncer"


def binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return SBIN if os.access(SBIN, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """`url(database)`: the pooler's address for a database of the server behind it."""

    def __init__(self, executable: str, server_url: str, root: Path, pool_size: int) -> None:
        server = make_url(server_url)
        self.user = server.username or "postgres"
        self.port = _free_port()
        self.log = root / "pgbouncer.log"
        self.ini = root / "pgbouncer.ini"
        (root / "userlist.txt").write_text(f'"{self.user}" ""\n')
        self.ini.write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            "max_client_conn = 1000\n"
            f"logfile = {self.log}\npidfile = {root / 'pgbouncer.pid'}\n"
        )
        command = [executable, str(self.ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            user = pwd.getpwnam("postgres")
            for path in (root, *root.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            command = ["runuser", "-u", "postgres", "--", *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        give_up = time.monotonic() + 15
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited: {self.process.stderr and self.process.stderr.read()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("pgbouncer did not listen within 15 s")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_pgbouncer(server_url: str, *, pool_size: int = 4) -> Iterator[PgBouncer]:
    """Raises LookupError when the machine has no pgbouncer binary."""
    executable = binary()
    if executable is None:
        raise LookupError("no pgbouncer binary (Debian: apt-get install pgbouncer)")
    root = Path(tempfile.mkdtemp(prefix="bt-pgbouncer-"))
    try:
        bouncer = PgBouncer(executable, server_url, root, pool_size)
        try:
            yield bouncer
        finally:
            bouncer.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    """A pgbouncer in front of the test's database; the test is skipped without the binary."""
    try:
        with running_pgbouncer(database_url) as bouncer:
            yield bouncer
    except LookupError as error:
        pytest.skip(str(error))
