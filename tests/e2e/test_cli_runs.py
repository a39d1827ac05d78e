"""`runs list|show|compare`, `enqueue` and `cancel` as a quant and an ops engineer use them:
real runs executed by a real worker, the CLI as a subprocess, at 80 columns and in a pipe."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.test_backtest_runs import add_dataset, add_run, add_strategy, drain
from tests.queue.helpers import BIN, ROOT, worker_env
from worker.results.metric_labels import format_metric

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}


def cli(
    database_url: str, tmp_path: Path, *args: str, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """The command with its output in a pipe; `columns` as a terminal of that width."""
    env = worker_env(database_url, data_dir=tmp_path / "data", artifact_dir=tmp_path / "artifacts")
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [str(BIN), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_runs_say_what_each_run_used_side_by_side_and_at_80_columns(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    costs = {"commission": 0.001, "slippage_bps": 2}
    base = await add_run(conn, dataset, strategy, {**costs, "label": "base case", "tags": ["q4"]})
    slow = await add_run(conn, dataset, strategy, {**costs, "params": {"slow_period": 200}})
    grid = await add_run(
        conn, dataset, strategy, {"grid": {"fast_period": [5, 10], "slow_period": [100, 200]}}
    )
    bad = await add_run(conn, dataset, strategy, {"params": {"fast_period": 300}})
    await drain(database_url, tmp_path)
    best = json.loads(
        await conn.fetchval("SELECT metadata->>'best_params' FROM runs WHERE id = $1", grid)
    )
    assert best != {"fast_period": 10, "slow_period": 50}

    shown = ok(cli(database_url, tmp_path, "runs", "show", str(slow)[:8]))
    assert "fast_period=10 slow_period=200" in shown  # not the registered 10/50
    assert "overrides slow_period=200" in shown
    assert "registered fast_period=10 slow_period=50" in shown
    assert "commission=0.001" in shown and "slippage_bps=2" in shown
    grid_shown = ok(cli(database_url, tmp_path, "runs", "show", str(grid)))
    used = f"fast_period={best['fast_period']} slow_period={best['slow_period']}"
    assert f"params   {used}  (best of the grid)" in grid_shown
    assert "grid     grid fast_period×2 slow_period×2 (4): best" in grid_shown
    as_json = json.loads(ok(cli(database_url, tmp_path, "runs", "show", str(grid), "--json")))
    assert as_json["summary"]["params"] == {"kind": "sma_crossover", **best}
    assert as_json["summary"]["best_params"] == best

    listed = json.loads(ok(cli(database_url, tmp_path, "runs", "list", "--json")))
    by_id: dict[str, Any] = {row["id"]: row for row in listed}
    assert set(by_id) == {str(r) for r in (base, slow, grid, bad)}
    assert by_id[str(base)]["label"] == "base case" and by_id[str(base)]["tags"] == ["q4"]
    assert by_id[str(slow)]["params"]["slow_period"] == 200
    assert by_id[str(bad)]["error"]["type"] == "invalid_params"
    assert all(str(row["id"]).startswith(row["short_id"]) for row in listed)

    def ids(*args: str) -> set[str]:
        out = json.loads(ok(cli(database_url, tmp_path, "runs", "list", "--json", *args)))
        return {row["id"] for row in out}

    assert ids("--label", "BASE") == {str(base)}
    assert ids("--status", "failed") == {str(bad)}
    strategy_name = await conn.fetchval("SELECT name FROM strategies WHERE id = $1", strategy)
    assert ids("--strategy", strategy_name[2:].upper()) == set(by_id)
    assert ids("--strategy", str(uuid.uuid4())) == set()
    assert ids("--dataset", "synth", "--since", "2000-01-01") == set(by_id)
    assert ids("--until", "2000-01-01") == set() and ids("--since", "2999-01-01") == set()
    today = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date::text")
    assert ids("--until", today) == set(by_id), "a date as --until includes that day"
    wrong = cli(database_url, tmp_path, "runs", "list", "--since", "yesterday")
    assert wrong.returncode == 2 and "is not a date" in wrong.stderr

    compared = json.loads(
        ok(cli(database_url, tmp_path, "runs", "compare", str(base)[:8], str(slow), "--json"))
    )
    assert [c["params"]["slow_period"] for c in compared] == [50, 200]
    table = ok(cli(database_url, tmp_path, "runs", "compare", str(base), str(slow), str(grid)))
    assert "slow_period *" in table and "commission *" in table
    assert "fast_period ×" not in table

    returns = {
        str(r): format_metric("total_return", by_id[str(r)]["metrics"]["total_return"])
        for r in (base, slow, grid)
    }
    for width in (80, 100):
        narrow = ok(cli(database_url, tmp_path, "runs", "list", columns=width))
        lines = narrow.splitlines()
        assert max(len(line) for line in lines) <= width, narrow
        for run_id, value in returns.items():
            row = next(line for line in lines if by_id[run_id]["short_id"] in line)
            assert value in row, narrow  # whole, on the run's first line
        assert "…" not in narrow
        side = ok(
            cli(database_url, tmp_path, "runs", "compare", str(base), str(slow), columns=width)
        )
        assert max(len(line) for line in side.splitlines()) <= width, side
        assert returns[str(base)] in side and returns[str(slow)] in side

    piped = ok(cli(database_url, tmp_path, "runs", "list"))
    for run_id in (base, slow, grid, bad):
        row = next(line for line in piped.splitlines() if by_id[str(run_id)]["short_id"] in line)
        assert by_id[str(run_id)]["strategy"] in row and "created" not in row
    assert "invalid_params" in piped and "base case" in piped and "…" not in piped
    assert "\x1b[" not in piped, "no colour codes in a pipe"

    finished = cli(database_url, tmp_path, "cancel", str(base)[:8])
    assert finished.returncode == 3, finished.stderr
    assert finished.stdout.strip() == "succeeded" and "already finished" in finished.stderr
    status = await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", base)
    assert status == "succeeded"


async def test_a_unique_start_of_an_id_is_taken_wherever_an_id_is(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    twins = [uuid.UUID("12345678-aaaa-4000-8000-000000000001"), uuid.UUID("12345678-bbbb-4000-8000-000000000002")]  # fmt: skip
    for run_id in twins:
        await conn.execute(
            "INSERT INTO runs (id, dataset_id, strategy_id, initial_capital) VALUES ($1, $2, $3, 1)",
            run_id,
            dataset,
            strategy,
        )
    other = await add_run(conn, dataset, strategy)

    listed = json.loads(ok(cli(database_url, tmp_path, "runs", "list", "--json")))
    short = {row["id"]: row["short_id"] for row in listed}
    assert short[str(twins[0])] == "12345678-a" and short[str(twins[1])] == "12345678-b"
    assert len(short[str(other)]) == 8
    table = ok(cli(database_url, tmp_path, "runs", "list"))
    assert "12345678-a " in table and "12345678-b " in table

    ambiguous = cli(database_url, tmp_path, "runs", "show", "12345678")
    assert ambiguous.returncode == 2 and "several runs" in ambiguous.stderr
    assert str(twins[0]) in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    assert f"run {twins[0]}" in ok(cli(database_url, tmp_path, "runs", "show", "12345678-A"))
    assert ok(cli(database_url, tmp_path, "cancel", "12345678b")).strip() == "cancelled"
    compared = json.loads(
        ok(
            cli(
                database_url, tmp_path, "runs", "compare", "12345678-a", short[str(other)], "--json"
            )
        )
    )
    assert [c["id"] for c in compared] == [str(twins[0]), str(other)]

    for text, message in (("123", "too short"), ("xyz12345", "not a UUID")):
        refused = cli(database_url, tmp_path, "runs", "show", text)
        assert refused.returncode == 2 and message in refused.stderr
    missing = cli(database_url, tmp_path, "cancel", "ffffffff")
    assert missing.returncode == 1 and "no run with id starting 'ffffffff'" in missing.stderr
    assert "runs list" in missing.stderr


async def test_enqueue_refuses_what_a_worker_would_fail_naming_field_and_rule(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = str(await add_dataset(conn, tmp_path / "data"))
    strategy = str(await add_strategy(conn, SMA))

    def enqueue(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(database_url, tmp_path, "enqueue", *args)

    cases = [
        ('{"commision": 0.001}', "invalid_config", "commision: unknown key"),
        ('{"commission": 2}', "invalid_config", "commission: Input should be less than 1"),
        ('{"params": {"fast_period": 60}}', "invalid_params", "fast_period must be less than"),
        ('{"artifacts": ["nope.bin"]}', "invalid_config", "unknown artifact(s) nope.bin"),
        ('{"symbols": ["ZZZ"]}', "unknown_symbol", "unknown symbol(s) ZZZ"),
        ('{"timeout_seconds": -1}', "invalid_config", "timeout_seconds"),
    ]
    for config, kind, rule in cases:
        refused = enqueue("--dataset", dataset, "--strategy", strategy, "--config", config)
        assert refused.returncode == 2, (config, refused.stderr)
        assert f"error: {kind}" in refused.stderr and rule in refused.stderr, refused.stderr
        assert "nothing was enqueued" in refused.stderr and refused.stdout == ""
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0

    no_dataset = enqueue("--dataset", str(uuid.uuid4()), "--strategy", strategy)
    assert no_dataset.returncode == 1 and "no dataset with id" in no_dataset.stderr
    assert "backtest-worker dataset list" in no_dataset.stderr
    no_strategy = enqueue("--dataset", dataset, "--strategy", str(uuid.uuid4()))
    assert "backtest-worker strategy list" in no_strategy.stderr

    good = enqueue(
        "--dataset", dataset, "--strategy", strategy, "--config", '{"params": {"slow_period": 90}}'
    )
    run_id = uuid.UUID(ok(good).strip())
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == "pending"
