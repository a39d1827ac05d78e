"""The engine's public surface: every export resolves, and reaching one light module does
not load the numba kernels (the CLI imports the engine's errors on every command)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import worker.engine as engine


def test_every_export_resolves_to_its_module_object() -> None:
    from worker.engine import api, errors

    for name in engine.__all__:
        assert getattr(engine, name) is not None, name
    assert engine.run_backtest is api.run_backtest
    assert engine.EngineInputError is errors.EngineInputError
    assert sorted(engine.__all__) == sorted(engine._EXPORTS), "every export has a module"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_export"):
        engine.no_such_export  # noqa: B018


def test_the_errors_module_and_the_cli_load_no_kernels() -> None:
    probe = (
        "import sys, worker.engine.errors, worker.cli; "
        "print(sorted(m for m in ('numba', 'worker.engine.api', 'polars') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
