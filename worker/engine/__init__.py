"""The pure simulation engine: DataFrames in, results out (see docs/engine.md).

The public surface is what this package exports; code outside ``worker/`` uses only it.
Modules under ``worker.engine`` are internals the worker's own packages may import.

The exports load on first use (PEP 562): importing one light module of the engine (its
errors, say, as the CLI does) must not compile or load every numba kernel.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.engine.analysis import ANALYSIS_METRIC_NAMES, Analysis
    from worker.engine.api import (
        ENGINE_VERSION,
        BacktestResult,
        RunSpec,
        parse_run,
        run_backtest,
        simulate_run,
    )
    from worker.engine.bar_files import file_sha256, load_bars, read_bars_file
    from worker.engine.bars import canonical_hash, dataset_summary, write_canonical_parquet
    from worker.engine.errors import (
        DatasetValidationError,
        EngineError,
        EngineInputError,
        RunCancelled,
    )
    from worker.engine.metrics import METRIC_NAMES
    from worker.engine.synthetic import generate_bars

_EXPORTS = {
    "ANALYSIS_METRIC_NAMES": "analysis",
    "Analysis": "analysis",
    "ENGINE_VERSION": "api",
    "BacktestResult": "api",
    "RunSpec": "api",
    "parse_run": "api",
    "run_backtest": "api",
    "simulate_run": "api",
    "file_sha256": "bar_files",
    "load_bars": "bar_files",
    "read_bars_file": "bar_files",
    "canonical_hash": "bars",
    "dataset_summary": "bars",
    "write_canonical_parquet": "bars",
    "DatasetValidationError": "errors",
    "EngineError": "errors",
    "EngineInputError": "errors",
    "RunCancelled": "errors",
    "METRIC_NAMES": "metrics",
    "generate_bars": "synthetic",
}

__all__ = [
    "ANALYSIS_METRIC_NAMES",
    "ENGINE_VERSION",
    "METRIC_NAMES",
    "Analysis",
    "BacktestResult",
    "DatasetValidationError",
    "EngineError",
    "EngineInputError",
    "RunCancelled",
    "RunSpec",
    "canonical_hash",
    "dataset_summary",
    "file_sha256",
    "generate_bars",
    "load_bars",
    "parse_run",
    "read_bars_file",
    "run_backtest",
    "simulate_run",
    "write_canonical_parquet",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'worker.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"worker.engine.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
