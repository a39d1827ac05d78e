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
    reports = dict(re.findall(r"^  (\S.*?\S)\s+(/\S+report\.html)$", out, flags=re.MULTILINE))
    assert len(reports) >= 9 and "sma grid (42 combinations)" in reports, out
    for label, report in reports.items():
        page = Path(report).read_text()
        assert page.startswith("<!doctype html>") and f"<title>{label}" in page
    assert f"worker logs (JSON lines): {tmp_path / 'demo' / 'logs'}/worker-*.log" in out
    assert (tmp_path / "demo" / "logs" / "worker-1.log").stat().st_size > 0
    assert (tmp_path / "pgdata" / "PG_VERSION").exists(), "the data directory is kept"
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "the server was stopped"

    # The command the demo prints for a look afterwards works as printed.
    hint = re.search(r"^  (EMBEDDED_PGDATA=(\S+) backtest-worker --embedded runs list)$", out, re.M)
    assert hint is not None, out
    assert hint.group(2) == str(tmp_path / "pgdata")
    env["EMBEDDED_PGDATA"] = hint.group(2)
    env["COLUMNS"] = "80"
    after = subprocess.run(
        [str(BIN), "--embedded", "runs", "list", "--label", "sma"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
    lines = after.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "invalid_params" in after.stdout
    assert sum("succeeded" in line for line in lines) == 2, after.stdout  # 20/100 and the grid
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "--embedded stopped it"
