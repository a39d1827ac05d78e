"""The README's main job: `backtest-worker demo` on an embedded PostgreSQL, from nothing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.queue.helpers import BIN, ROOT


def test_demo_on_an_embedded_postgres_prints_results_and_reports(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DATA_DIR", "ARTIFACT_DIR")
    }
    env.update(
        WORKER_ENV_FILE="/nonexistent/.env",
        EMBEDDED_PGDATA=str(tmp_path / "pgdata"),
        COLUMNS="200",
    )
    done = subprocess.run(
        [str(BIN), "demo", "--workdir", str(tmp_path / "demo")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "embedded PostgreSQL" in out
    for label in ("buy and hold", "sma grid", "ema 12/26", "rsi 14", "momentum", "rules"):
        assert label in out, out
    assert "invalid_params" in out and "fast_period must be less than slow_period" in out
    assert out.count("succeeded") >= 9
    reports = re.findall(r"^\s+(/\S+report\.html)$", out, flags=re.MULTILINE)
    assert len(reports) >= 9
    assert all(Path(report).read_text().startswith("<!doctype html>") for report in reports)
    assert (tmp_path / "pgdata" / "PG_VERSION").exists(), "the data directory is kept"
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "the server was stopped"
