"""A PostgreSQL cluster of a test's own (initdb + pg_ctl on a free port, as the `postgres`
OS user), for what the shared server must not do: stop, refuse passwords, change roles.

The cluster uses scram-sha-256 for TCP connections, so a wrong password is refused, and
the superuser `postgres` has the password `SUPERUSER_PASSWORD`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPERUSER_PASSWORD = "su-pw-7d2e"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    def __init__(self, bin_dir: Path, root: Path, as_user: list[str]) -> None:
        self.bin_dir = bin_dir
        self._as_user = as_user
        self.data = root / "pgdata"
        self.port = _free_port()
        self.log = root / "server.log"
        pwfile = root / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                  "-A", "scram-sha-256", "--auth-local=trust", "-E", "UTF8")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n")
            conf.write(f"unix_socket_directories = '{root}'\nfsync = off\n")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as_user, str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def url(
        self, user: str = "postgres", password: str = SUPERUSER_PASSWORD, db: str = "postgres"
    ) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl) on this machine")
    root = Path(tempfile.mkdtemp(prefix="bt-private-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    try:
        cluster = PrivateCluster(bin_dir, root, as_user)
    except (subprocess.CalledProcessError, KeyError) as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot start a private PostgreSQL cluster: {error}")
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
