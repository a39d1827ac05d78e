"""No command and no log format prints the database password, in any form a URL carries it;
a refused connection is one line and a hint, never a traceback (without --debug).

A private cluster with password authentication, so that a wrong password is refused.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.private_pg import SUPERUSER_PASSWORD, PrivateCluster, private_cluster  # noqa: F401
from tests.queue.helpers import BIN, ROOT, worker_env

WRONG = "wr0ng-Secret-91"
ID = str(uuid.uuid4())
COMMANDS = [
    ["run", "--burst"],
    ["migrate"],
    ["status"],
    ["status", "--json"],
    ["runs", "list"],
    ["runs", "show", ID],
    ["enqueue", "--dataset", ID, "--strategy", ID],
    ["cancel", ID],
    ["prune", "--before", "2000-01-01"],
    ["dataset", "list"],
    ["strategy", "list"],
]


def forms(port: int, password: str, db: str = "postgres") -> dict[str, str]:
    host = f"127.0.0.1:{port}"
    return {
        "user-info": f"postgresql://postgres:{password}@{host}/{db}",
        "password=": f"postgresql://postgres@{host}/{db}?password={password}",
        "sslpassword= and user-info": (
            f"postgresql://postgres:{password}@{host}/{db}?sslmode=disable&sslpassword={password}"
        ),
    }


def cli(url: str, tmp_path: Path, *args: str, log_format: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(url, data_dir=tmp_path / "data", artifact_dir=tmp_path / "art")
    env["LOG_FORMAT"] = log_format
    return subprocess.run(
        [str(BIN), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("form", ["user-info", "password=", "sslpassword= and user-info"])
def test_a_refused_connection_is_one_line_without_the_password(
    private_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
    form: str,
) -> None:
    url = forms(private_cluster.port, WRONG)[form]
    for command in COMMANDS:
        result = cli(url, tmp_path, *command, log_format="console" if "list" in command else "json")
        out = result.stdout + result.stderr
        assert result.returncode != 0, (command, out)
        assert WRONG not in out, (command, out)
        assert "Traceback" not in out, (command, out)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "password authentication failed" in errors[0], (command, out)
        assert "  hint: " in result.stderr, (command, out)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_working_worker_never_prints_the_password(
    private_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
    log_format: str,
) -> None:
    for form, url in forms(private_cluster.port, SUPERUSER_PASSWORD).items():
        for command in (["migrate"], ["run", "--burst"], ["status"]):
            result = cli(url, tmp_path, *command, log_format=log_format)
            out = result.stdout + result.stderr
            assert result.returncode == 0, (form, command, out)
            assert SUPERUSER_PASSWORD not in out, (form, command, out)
            assert "127.0.0.1" in out or command == ["status"], (form, command, out)
