"""The pure simulation engine: DataFrames in, results out (see docs/engine.md).

Public surface: ``worker.engine.api`` (``run_backtest``, ``BacktestResult``,
``ENGINE_VERSION``), ``worker.engine.bars`` (reading, validating, hashing and loading bar
files), ``worker.engine.errors`` and ``worker.engine.synthetic``.
"""
