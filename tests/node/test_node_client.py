"""The Node.js client (clients/node) against a fresh database migrated to head.

Runs the package's own tests (`node --test`, with DATABASE_URL set to this test's database) and
its TypeScript declaration check. Needs `node` on PATH and `npm ci` run in clients/node (CI does
both); skipped, with the reason, otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE = shutil.which("node")
TIMEOUT_SECONDS = 180

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (Node.js >= 18 is needed)"),
    pytest.mark.skipif(
        not (CLIENT_DIR / "node_modules" / "pg").is_dir(),
        reason=f"the Node.js client's dependencies are not installed: run `npm ci` in {CLIENT_DIR}",
    ),
]


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=CLIENT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        text = output.decode(errors="replace")
        pytest.fail(f"{' '.join(args)} did not finish in {TIMEOUT_SECONDS} s:\n{text}")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_node_client_tests_pass(database_url: str) -> None:
    assert NODE is not None
    env = {**os.environ, "DATABASE_URL": database_url, "NO_COLOR": "1"}
    env.pop("NODE_OPTIONS", None)
    code, output = await _run(NODE, "--test", "--test-reporter=spec", env=env)
    assert code == 0, f"node --test failed (exit {code}) against {database_url}:\n{output}"
    # The database suites ran: none was skipped for want of a database.
    assert "DATABASE_URL is not set" not in output, output
    assert "waitForRun" in output, output


async def test_node_client_type_declarations_compile() -> None:
    tsc = CLIENT_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.is_file():
        pytest.skip(f"typescript is not installed: run `npm ci` in {CLIENT_DIR}")
    assert NODE is not None
    code, output = await _run(NODE, str(tsc), "-p", "testing/tsconfig.json", env=dict(os.environ))
    assert code == 0, f"index.d.ts does not type-check:\n{output}"
