"""The README as a user follows it: its walkthrough runs as written, and its install pins hold.

The quickstart block (demo and tests) is run by `.ci/run` itself, line by line; here the
walkthrough block runs with bash against a real database, and `constraints.txt` is checked to
pin every requirement `pyproject.toml` names, so the quickstart's install cannot drift into a
resolver search again.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
import uuid
from pathlib import Path

import asyncpg
from packaging.requirements import Requirement
from packaging.version import Version

from tests.queue.helpers import BIN, ROOT, worker_env

README = ROOT / "README.md"


def fenced_block_after(marker: str) -> str:
    """The body of the first fenced code block after the HTML comment naming `marker`."""
    text = README.read_text()
    start = text.index(f"<!-- {marker}")
    match = re.compile(r"```[a-z]*\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no fenced block after the {marker} marker"
    return match.group(1)


def test_quickstart_block_holds_the_two_commands() -> None:
    lines = [
        line
        for line in fenced_block_after("quickstart").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 2
    demo, tests = lines
    assert "-c constraints.txt" in demo and demo.endswith("backtest-worker demo")
    assert "-c constraints.txt" in tests and tests.endswith(".venv/bin/pytest")


async def test_walkthrough_runs_as_written(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    script = fenced_block_after("walkthrough")
    env = worker_env(database_url, data_dir=tmp_path / "data", artifact_dir=tmp_path / "art")
    env["PATH"] = f"{BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    env["LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script + '\necho "RUN=$RUN"\n'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = uuid.UUID(done.stdout.strip().splitlines()[-1].removeprefix("RUN="))
    run = await conn.fetchrow("SELECT status, total_trades, error FROM runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["total_trades"] > 0
    assert "succeeded" in done.stdout  # runs show prints the status
    assert await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = $1", run_id) > 0


def _pins() -> dict[str, list[tuple[Version, str]]]:
    pins: dict[str, list[tuple[Version, str]]] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        marker = str(requirement.marker) if requirement.marker else ""
        pins.setdefault(name, []).append((Version(specifier.version), marker))
    return pins


def test_constraints_pin_every_requirement_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = _pins()
    own = re.sub(r"[-_.]+", "-", project["name"]).lower()
    for text in requirements:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name == own:
            continue
        assert name in pins, f"{name} is not pinned in constraints.txt: regenerate it (README)"
        for version, marker in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"constraints.txt pins {name}=={version} {marker}, outside {requirement.specifier}:"
                " regenerate it (README)"
            )
