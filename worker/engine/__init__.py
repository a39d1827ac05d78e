"""The pure simulation engine: DataFrames in, results out (see docs/engine.md).

The public surface is what this package exports; code outside ``worker/`` uses only it.
Modules under ``worker.engine`` are internals the worker's own packages may import.
"""

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
