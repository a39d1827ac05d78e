"""jsonsafe writes only what JSONB accepts, for every value the worker hands it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from worker import jsonsafe


@dataclass(frozen=True)
class Period:
    start: datetime
    depth: float


def test_non_finite_numbers_become_null_everywhere() -> None:
    value = {
        "nan": float("nan"),
        "inf": float("inf"),
        "np_inf": np.float64("-inf"),
        "array": np.array([1.5, np.nan]),
        "decimal_nan": Decimal("NaN"),
        "nested": [{"x": float("nan")}],
    }
    assert json.loads(jsonsafe.dumps(value)) == {
        "nan": None,
        "inf": None,
        "np_inf": None,
        "array": [1.5, None],
        "decimal_nan": None,
        "nested": [{"x": None}],
    }


def test_common_non_json_values_become_their_json_equivalents() -> None:
    when = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    value = {
        "decimal": Decimal("1.25"),
        "uuid": uuid.UUID(int=7),
        "datetime": when,
        "date": date(2024, 3, 1),
        "timedelta": timedelta(minutes=2),
        "int64": np.int64(3),
        "set": {4},
        "tuple": (1, 2),
        1: "non-string key",
        "dataclass": Period(when, -0.25),
        "other": object.__new__(type("Opaque", (), {"__str__": lambda self: "opaque"})),
    }
    assert json.loads(jsonsafe.dumps(value)) == {
        "decimal": 1.25,
        "uuid": "00000000-0000-0000-0000-000000000007",
        "datetime": "2024-03-01T09:30:00+00:00",
        "date": "2024-03-01",
        "timedelta": 120.0,
        "int64": 3,
        "set": [4],
        "tuple": [1, 2],
        "1": "non-string key",
        "dataclass": {"start": "2024-03-01T09:30:00+00:00", "depth": -0.25},
        "other": "opaque",
    }


def test_values_the_fast_encoder_refuses_take_the_slow_path() -> None:
    value = {"big": 2**70, "array": np.array([1.0, np.nan]), "nan": float("nan")}
    assert json.loads(jsonsafe.dumps(value)) == {"big": 2**70, "array": [1.0, None], "nan": None}
    assert json.loads(jsonsafe.encode_json(value, indent=True)) == json.loads(jsonsafe.dumps(value))


def test_indented_output_is_the_same_value() -> None:
    value = {"a": [1, {"b": None}], "c": "é"}
    text = jsonsafe.encode_json(value, indent=True).decode()
    assert "\n  " in text
    assert json.loads(text) == value


def test_decoding_reads_back_and_refuses_too_deep_nesting() -> None:
    assert jsonsafe.decode_json(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert jsonsafe.decode_jsonb(jsonsafe.encode_jsonb({"k": "v"})) == {"k": "v"}
    with pytest.raises(ValueError, match="nested too deep"):
        jsonsafe.decode_json("[" * 100_000)
