"""Schema validators accept and reject the contract's cases with readable messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from worker.bounds import MAX_INPUT_BYTES, MAX_INPUT_DEPTH
from worker.engine.rules import MAX_DEPTH as RULE_DEPTH
from worker.schemas import (
    ArtifactCreate,
    DatasetCreate,
    EventCreate,
    RunCreate,
    RunRead,
    StrategyCreate,
)
from worker.schemas.export import render_client_limits, render_schemas

DATASET: dict[str, Any] = {
    "name": "daily bars",
    "symbols": ["aapl", " msft "],
    "timeframe": "1d",
    "start_date": "2024-01-01T00:00:00",
    "end_date": "2024-06-30T00:00:00Z",
    "row_count": 250,
    "storage_uri": "data/abc.parquet",
    "hash": "ab" * 32,
}


def _error(model: type, **fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model(**fields)
    return str(caught.value)


def test_naive_datetimes_are_utc_and_aware_ones_converted() -> None:
    dataset = DatasetCreate(**{**DATASET, "end_date": "2024-06-30T02:00:00+02:00"})
    assert dataset.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert dataset.end_date == datetime(2024, 6, 30, tzinfo=UTC)
    assert dataset.end_date.tzinfo is UTC
    naive = DatasetCreate(**{**DATASET, "start_date": datetime(2024, 1, 1, 9, 30)})
    assert naive.start_date == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)


def test_symbols_upper_cased_and_hash_lowercased() -> None:
    dataset = DatasetCreate(**{**DATASET, "hash": "AB" * 32})
    assert dataset.symbols == ["AAPL", "MSFT"]
    assert dataset.hash == "ab" * 32


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1h", "4h", "1d", "1w", "30s"])
def test_timeframes_accepted(timeframe: str) -> None:
    assert DatasetCreate(**{**DATASET, "timeframe": timeframe}).timeframe == timeframe


@pytest.mark.parametrize("timeframe", ["", "0d", "1x", "d1", "daily", "1 d"])
def test_timeframes_rejected(timeframe: str) -> None:
    assert "is not a timeframe" in _error(DatasetCreate, **{**DATASET, "timeframe": timeframe})


@pytest.mark.parametrize("value", ["abc", "g" * 64, "a" * 63, "a" * 65])
def test_hash_must_be_64_hex(value: str) -> None:
    assert "is not a SHA-256 hash" in _error(DatasetCreate, **{**DATASET, "hash": value})


def test_dataset_rules() -> None:
    assert "end_date must not be before start_date" in _error(
        DatasetCreate, **{**DATASET, "end_date": "2023-01-01"}
    )
    assert "symbols must not repeat" in _error(DatasetCreate, **{**DATASET, "symbols": ["a", "A"]})
    assert "is not a symbol" in _error(DatasetCreate, **{**DATASET, "symbols": ["BAD SYMBOL"]})
    assert "Extra inputs are not permitted" in _error(DatasetCreate, **{**DATASET, "id": 1})


@pytest.mark.parametrize(
    "version", ["1.0.0", "0.1.0", "2.0.0-beta.1", "1.0.0+build.5", "1.0.0-rc.1+exp.sha.5114f85"]
)
def test_semver_accepted(version: str) -> None:
    strategy = StrategyCreate(name="sma", version=version, params={"kind": "buy_and_hold"})
    assert strategy.version == version


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+", "1.0.0-01"])
def test_semver_rejected(version: str) -> None:
    message = _error(StrategyCreate, name="s", version=version, params={"kind": "buy_and_hold"})
    assert "is not a semantic version" in message


def test_strategy_params_name_a_kind() -> None:
    assert "must name the strategy kind" in _error(StrategyCreate, name="s", params={"fast": 1})


@pytest.mark.parametrize(
    "mime", ["text/csv", "image/png", "text/html; charset=utf-8", "Application/JSON"]
)
def test_mime_accepted(mime: str) -> None:
    artifact = ArtifactCreate(
        run_id=uuid.uuid4(),
        kind="csv",
        filename="a.csv",
        storage_path="/x/a.csv",
        mime_type=mime,
        size_bytes=1,
        sha256="0" * 64,
    )
    assert artifact.mime_type == mime.lower()


@pytest.mark.parametrize("mime", ["csv", "text/", "foo/bar", "text/csv/x"])
def test_mime_rejected(mime: str) -> None:
    message = _error(
        ArtifactCreate,
        run_id=uuid.uuid4(),
        kind="csv",
        filename="a.csv",
        storage_path="/x",
        mime_type=mime,
        size_bytes=1,
        sha256="0" * 64,
    )
    assert "is not a MIME type" in message


def test_artifact_kind_is_the_enum() -> None:
    message = _error(
        ArtifactCreate,
        run_id=uuid.uuid4(),
        kind="video",
        filename="a",
        storage_path="/x",
        mime_type="text/csv",
        size_bytes=1,
        sha256="0" * 64,
    )
    assert "'plot', 'report', 'csv', 'pickle', 'json' or 'parquet'" in message


def test_run_create_defaults_and_limits() -> None:
    run = RunCreate(dataset_id=uuid.uuid4(), strategy_id=uuid.uuid4())
    assert run.initial_capital == 10_000 and run.mode == "backtest" and run.max_attempts == 3
    assert "greater than 0" in _error(
        RunCreate, dataset_id=uuid.uuid4(), strategy_id=uuid.uuid4(), initial_capital=0
    )
    assert "'backtest', 'paper' or 'live'" in _error(
        RunCreate, dataset_id=uuid.uuid4(), strategy_id=uuid.uuid4(), mode="BACKTEST"
    )


def test_run_read_from_a_database_row() -> None:
    now = datetime(2024, 1, 1, 12, 0)
    row = {
        "id": uuid.uuid4(),
        "dataset_id": uuid.uuid4(),
        "strategy_id": uuid.uuid4(),
        "mode": "backtest",
        "status": "failed",
        "initial_capital": "10000.0000",
        "config": {},
        "run_metadata": {"engine_version": "1"},
        "priority": 0,
        "run_after": now,
        "attempts": 1,
        "max_attempts": 3,
        "locked_by": None,
        "lease_expires_at": None,
        "cancel_requested": False,
        "progress": None,
        "error": {"type": "invalid_params", "message": "fast_period must be less than slow_period"},
        "created_at": now,
        "started_at": now,
        "finished_at": now,
        **dict.fromkeys(
            [
                "final_value",
                "total_return",
                "sharpe_ratio",
                "max_drawdown",
                "win_rate",
                "total_trades",
                "winning_trades",
                "losing_trades",
                "metrics",
            ]
        ),
    }
    run = RunRead.model_validate(row)
    assert run.metadata == {"engine_version": "1"}
    assert run.error is not None and run.error.type == "invalid_params"
    assert run.created_at.tzinfo is UTC


def test_event_types_are_snake_case() -> None:
    event = EventCreate(run_id=uuid.uuid4(), event_type="trade.entry", timestamp="2024-01-02T10:00")
    assert event.timestamp == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert "should match pattern" in _error(EventCreate, run_id=uuid.uuid4(), event_type="Bad Type")


def test_exported_json_schemas_are_current() -> None:
    directory = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    for filename, text in render_schemas().items():
        path = directory / filename
        assert path.exists(), f"{filename} missing: run python -m worker.schemas.export"
        assert path.read_text(encoding="utf-8") == text, (
            f"{filename} is stale: run python -m worker.schemas.export"
        )


def test_the_node_client_has_the_workers_input_bounds() -> None:
    path = Path(__file__).resolve().parents[2] / "clients" / "node" / "limits.json"
    assert path.read_text(encoding="utf-8") == render_client_limits(), (
        "clients/node/limits.json is stale: run python -m worker.schemas.export"
    )


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def test_config_and_params_are_bounded_in_size_and_depth() -> None:
    ids = {"dataset_id": uuid.uuid4(), "strategy_id": uuid.uuid4()}
    assert RunCreate(**ids, config=_nested(MAX_INPUT_DEPTH))
    assert "levels deep" in _error(RunCreate, **ids, config=_nested(MAX_INPUT_DEPTH + 1))
    assert "bytes of JSON" in _error(RunCreate, **ids, config={"k": "x" * MAX_INPUT_BYTES})
    params = {"kind": "buy_and_hold", "deep": _nested(MAX_INPUT_DEPTH)}
    assert "levels deep" in _error(StrategyCreate, name="s", params=params)
    schema = RunCreate.model_json_schema()["properties"]["config"]
    assert (schema["x-maxBytes"], schema["x-maxDepth"]) == (MAX_INPUT_BYTES, MAX_INPUT_DEPTH)


def test_the_depth_bound_admits_the_deepest_rule_the_rule_language_allows() -> None:
    assert MAX_INPUT_DEPTH >= 2 * (RULE_DEPTH + 1) + 2  # args lists, params and config.params
