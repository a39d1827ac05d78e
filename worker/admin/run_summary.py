"""What a run used, from its row alone: the parameters, overrides, grid and settings that tell
two runs of one strategy apart (the CLI's `runs show|list|compare`).

The strategy row holds the registered parameters; a run may override them (`config.params`)
or search a grid (`config.grid`). A finished run records what it executed in
`runs.metadata` (`strategy.params`: for a grid, the best combination's; `resolved_config`):
that is preferred; before, the effective parameters are the registered ones with the
overrides on top, as the engine merges them (`parse_strategy`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.db import Run
from worker.results.params_text import KEY_CONFIG

HEADLINE_METRICS = (
    "total_return",
    "cagr",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_trades",
    "final_value",
)


@dataclass(frozen=True)
class RunSummary:
    id: uuid.UUID
    status: str
    strategy: str
    strategy_kind: str | None
    dataset: str
    label: str | None
    tags: tuple[str, ...]
    #: What the run executes (or executed): the registered parameters with its overrides.
    params: dict[str, Any]
    overrides: dict[str, Any]
    grid: dict[str, list[Any]] | None
    best_params: dict[str, Any] | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    error_type: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status,
            "strategy": self.strategy,
            "strategy_kind": self.strategy_kind,
            "dataset": self.dataset,
            "label": self.label,
            "tags": list(self.tags),
            "params": self.params,
            "overrides": self.overrides,
            "grid": self.grid,
            "best_params": self.best_params,
            "config": self.config,
            "metrics": self.metrics,
            "error": (
                None
                if self.error_type is None
                else {"type": self.error_type, "message": self.error_message}
            ),
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def summarize(run: Run) -> RunSummary:
    """The summary of a run whose `strategy` and `dataset` are loaded."""
    config = _object(run.config)
    metadata = _object(run.run_metadata)
    registered = _object(run.strategy.params)
    overrides = _object(config.get("params"))
    executed = _object(_object(metadata.get("strategy")).get("params"))
    params = executed or {**registered, **overrides}
    resolved = _object(metadata.get("resolved_config")) or config
    grid = config.get("grid") if isinstance(config.get("grid"), dict) else None
    best = metadata.get("best_params")
    tags = config.get("tags")
    label = config.get("label")
    error = _object(run.error)
    stored = _object(run.metrics)  # every metric at full precision (the columns are rounded)
    metrics = {
        name: stored[name] if name in stored else _number(getattr(run, name, None))
        for name in HEADLINE_METRICS
        if name in stored or getattr(run, name, None) is not None
    }
    return RunSummary(
        id=run.id,
        status=run.status.value,
        strategy=f"{run.strategy.name} v{run.strategy.version}",
        strategy_kind=str(params.get("kind")) if params.get("kind") is not None else None,
        dataset=run.dataset.name,
        label=label if isinstance(label, str) else None,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        params=params,
        overrides=overrides,
        grid=grid,
        best_params=best if isinstance(best, dict) else None,
        config={key: resolved[key] for key in KEY_CONFIG if resolved.get(key) is not None},
        metrics=metrics,
        error_type=str(error["type"]) if error.get("type") is not None else None,
        error_message=str(error["message"]) if error.get("message") is not None else None,
        attempts=run.attempts,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def _number(value: Any) -> Any:
    """Numeric columns come back as Decimal; JSON and the tables want plain numbers."""
    if value is None or isinstance(value, int | float):
        return value
    return float(value)
