"""Keys (401/403, revocation at once), the per-key rate limit (429), CORS for configured
origins only, body limits (413), and problem+json for every error."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.api.server import ApiServer, add_key, bearer
from tests.queue.helpers import BIN, ROOT, make_dataset_and_strategy, worker_env

PROBLEM = "application/problem+json"


def apikey_cli(
    database_url: str, *args: str, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "apikey", *args],
        env={**worker_env(database_url), "COLUMNS": str(columns)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_no_key_a_wrong_key_and_a_read_key_on_a_write_route(
    api: ApiServer, conn: asyncpg.Connection
) -> None:
    read = await add_key(conn, "read")
    dataset_id, strategy_id = await make_dataset_and_strategy(conn)
    body = {"dataset_id": str(dataset_id), "strategy_id": str(strategy_id)}
    async with httpx.AsyncClient(base_url=api.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).json()["status"] == "ready"
        missing = await http.get("/api/v1/runs")
        assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["type"] == "/problems/unauthorized"
        wrong = await http.get("/api/v1/runs", headers=bearer("btk_" + "x" * 43))
        assert wrong.status_code == 401
        assert (await http.get("/api/v1/runs", headers=bearer(read))).status_code == 200
        forbidden = await http.post("/api/v1/runs", json=body, headers=bearer(read))
        assert forbidden.status_code == 403 and forbidden.json()["status"] == 403
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0


async def test_apikey_cli_prints_the_key_last_stores_a_hash_and_revokes_at_once(
    api: ApiServer, conn: asyncpg.Connection, database_url: str
) -> None:
    created = apikey_cli(database_url, "create", "--name", "node-backend", "--scope", "write")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("btk_") and len(secret) > 40
    stored = await conn.fetchrow("SELECT * FROM api_keys WHERE name = 'node-backend'")
    assert stored["scope"] == "write" and secret not in str(dict(stored))
    listed = apikey_cli(database_url, "list")
    assert "node-backend" in listed.stdout and secret not in listed.stdout
    assert str(stored["id"]) in listed.stdout
    narrow = apikey_cli(database_url, "list", columns=80).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80, narrow
    assert f"{secret[:12]}…" in narrow and "node-backend" in narrow  # the prefix names it
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as http:
        assert (await http.get("/api/v1/runs")).status_code == 200  # now cached
        revoked = apikey_cli(database_url, "revoke", str(stored["id"]))
        assert revoked.returncode == 0, revoked.stderr
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 10  # the cache holds keys for 60 s: NOTIFY must clear it
        while (await http.get("/api/v1/runs")).status_code != 401:
            assert loop.time() < give_up, "a revoked key was still accepted"
            await asyncio.sleep(0.05)
    again = apikey_cli(database_url, "revoke", str(stored["id"]))
    assert again.returncode == 1 and "no active key" in again.stderr


@pytest.fixture
async def strict_api(database_url: str, tmp_path: Path) -> AsyncIterator[ApiServer]:
    server = ApiServer(
        database_url,
        tmp_path,
        api_rate_limit="5/minute",
        api_cors_origins="https://app.example.com, http://localhost:5173",
        api_max_body_bytes=2000,
        api_max_upload_bytes=5000,
    )
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


async def test_the_rate_limit_is_per_key_with_retry_after(
    strict_api: ApiServer, conn: asyncpg.Connection
) -> None:
    first, second = await add_key(conn), await add_key(conn)
    async with httpx.AsyncClient(base_url=strict_api.url) as http:
        codes = [
            (await http.get("/api/v1/strategies", headers=bearer(first))).status_code
            for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        limited = await http.get("/api/v1/strategies", headers=bearer(first))
        assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await http.get("/api/v1/strategies", headers=bearer(second))).status_code == 200
        assert (await http.get("/healthz")).status_code == 200


async def test_cors_preflight_from_an_allowed_and_a_refused_origin(
    strict_api: ApiServer, api: ApiServer
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with httpx.AsyncClient() as http:
        allowed = await http.options(
            f"{strict_api.url}/api/v1/runs",
            headers={"Origin": "https://app.example.com", **preflight},
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await http.options(
            f"{strict_api.url}/api/v1/runs", headers={"Origin": "https://evil.example", **preflight}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        simple = await http.get(
            f"{strict_api.url}/healthz", headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in simple.headers
        # the default: API_CORS_ORIGINS empty, no origin at all
        default = await http.options(
            f"{api.url}/api/v1/runs", headers={"Origin": "https://app.example.com", **preflight}
        )
        assert "access-control-allow-origin" not in default.headers


async def test_bodies_over_the_limit_are_413(
    strict_api: ApiServer, conn: asyncpg.Connection
) -> None:
    secret = await add_key(conn)
    big = {
        "dataset_id": str(uuid.uuid4()),
        "strategy_id": str(uuid.uuid4()),
        "config": {"notes": "x" * 3000},
    }
    async with httpx.AsyncClient(base_url=strict_api.url, headers=bearer(secret)) as http:
        declared = await http.post("/api/v1/runs", json=big)
        assert declared.status_code == 413 and declared.headers["content-type"] == PROBLEM

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"dataset_id": "'
            for _ in range(10):
                yield b"x" * 500

        chunked = await http.post(
            "/api/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 413 and chunked.json()["status"] == 413
        upload = await http.post(
            "/api/v1/datasets",
            files={"file": ("bars.csv", b"timestamp,open\n" * 1000, "text/csv")},
            data={"name": "too big"},
        )
        assert upload.status_code == 413
        for _ in range(20):  # a client still sending reads the 413, never a reset
            again = await http.post("/api/v1/runs", content=b"x" * 50_000)
            assert again.status_code == 413
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0


async def test_errors_are_problem_details_without_a_trace(
    api: ApiServer, client: httpx.AsyncClient
) -> None:
    cases = [
        await client.get(f"/api/v1/runs/{uuid.uuid4()}"),
        await client.get("/api/v1/runs/not-a-uuid"),
        await client.get("/api/v1/nowhere"),
        await client.post(
            "/api/v1/runs", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        await client.get("/api/v1/runs", params={"cursor": "garbage"}),
        await client.post(
            "/api/v1/datasets",
            files={
                "file": (
                    "bars.csv",
                    b"timestamp,open,high,low,close,volume\n2020-01-01,1,2,0.5,1,-5\n",
                    "text/csv",
                )
            },
            data={"name": "bad", "symbol": "AAA"},
        ),
    ]
    assert [case.status_code for case in cases] == [404, 422, 404, 422, 422, 422]
    for case in cases:
        assert case.headers["content-type"] == PROBLEM
        body = case.json()
        assert {"type", "title", "status"} <= set(body) and body["status"] == case.status_code
        assert "Traceback" not in case.text
    bad_file = cases[-1].json()
    assert bad_file["row"] == 1 and bad_file["rule"], bad_file
