"""A dataset row cannot make a real worker read, fetch or print anything outside its roots.

Every attack is a `datasets` row whose content hash is right (so before confinement each one
was read and the run succeeded); one worker drains them all, next to a good run.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import asyncpg
import pytest

from tests.e2e.test_backtest_runs import SMA, add_run, add_strategy, drain
from tests.queue.helpers import ROOT
from worker.engine.bars import canonical_hash, write_canonical_parquet
from worker.engine.synthetic import generate_bars

SECRET = "TOPSECRET_4f1c"
FORBIDDEN_TYPE = "dataset_forbidden"


class _Recorder(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    served = tmp_path / "served"
    served.mkdir()
    requests: ClassVar[list[str]] = []
    handler = type("Handler", (_Recorder,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a, **k: handler(*a, directory=str(served), **k),  # type: ignore[misc]
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()


async def dataset_row(conn: asyncpg.Connection, uri: str, content_hash: str) -> uuid.UUID:
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ($1, ARRAY['AAA', 'BBB'], '1d', '2020-01-01', '2021-12-31', 800, $2, $3)
        RETURNING id
        """,
        f"d-{uuid.uuid4().hex[:8]}",
        uri,
        content_hash,
    )


async def test_a_dataset_is_read_only_from_the_roots(
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
    http_server: tuple[str, list[str]],
) -> None:
    base_url, requests = http_server
    data, elsewhere, served = tmp_path / "data", tmp_path / "elsewhere", tmp_path / "served"
    data.mkdir()
    elsewhere.mkdir()
    strategy = await add_strategy(conn, SMA)
    seeds = iter(range(100, 200))

    async def run_on(uri: str, file: Path | None = None) -> uuid.UUID:
        """A run of a dataset row at `uri` whose hash matches the bars written at `file`."""
        bars = generate_bars(symbols=["AAA", "BBB"], n_bars=400, seed=next(seeds))
        if file is not None:
            write_canonical_parquet(bars, file)
        return await add_run(conn, await dataset_row(conn, uri, canonical_hash(bars)), strategy)

    outside = [elsewhere / f"bars-{i}.parquet" for i in range(4)]
    (data / "link.parquet").symlink_to(outside[3])
    secret_csv = f"{SECRET},open,high\n{SECRET}_row,1,2\n"
    (elsewhere / "secret.csv").write_text(secret_csv)
    (data / "secret.csv").write_text(secret_csv)
    attacks = {
        "absolute path elsewhere": (str(outside[0]), outside[0]),
        "file:// URL elsewhere": (f"file://{outside[1]}", outside[1]),
        "DATA_DIR/../ escape": (f"{data}/../elsewhere/bars-2.parquet", outside[2]),
        "relative ../ path": (os.path.relpath(outside[2], ROOT), None),
        "symlink in DATA_DIR": (str(data / "link.parquet"), outside[3]),
        "http:// URL (SSRF)": (f"{base_url}/a.parquet", served / "a.parquet"),
        "fsspec chaining": (f"simplecache::{base_url}/b.parquet", served / "b.parquet"),
        "CSV with a secret outside": (str(elsewhere / "secret.csv"), None),
        "missing file outside": (str(elsewhere / "nothing-here.parquet"), None),
        "missing directory outside": ("/no/such/dir/bars.parquet", None),
    }
    runs = {name: await run_on(uri, file) for name, (uri, file) in attacks.items()}
    secret_inside = await run_on(str(data / "secret.csv"))
    good_file = data / "good.parquet"
    good = await run_on(str(good_file), good_file)
    worker = await drain(database_url, tmp_path)

    messages = {}
    for name, run_id in runs.items():
        row = await conn.fetchrow(
            "SELECT status::text, attempts, error FROM runs WHERE id = $1", run_id
        )
        error = json.loads(row["error"])
        assert (row["status"], row["attempts"], error["type"]) == ("failed", 1, FORBIDDEN_TYPE), (
            name
        )
        assert "DATASET_ROOTS" in error["message"]
        messages[name] = error["message"].replace(repr(attacks[name][0]), "<uri>")
    # Outside the roots, an existing and a missing file are refused in the same words.
    assert len(set(messages.values())) == 1, messages
    assert requests == [], "the worker fetched a URL a row named"

    inside_error = json.loads(
        await conn.fetchval("SELECT error FROM runs WHERE id = $1", secret_inside)
    )
    assert inside_error["type"] == "dataset_corrupt"
    assert inside_error["detail"]["rule"]
    everything = "\n".join(
        [
            worker.log_text(),
            *(str(r[0]) for r in await conn.fetch("SELECT error FROM runs")),
            *(str(r[0]) for r in await conn.fetch("SELECT payload FROM events")),
        ]
    )
    assert SECRET not in everything
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", good) == "succeeded"
