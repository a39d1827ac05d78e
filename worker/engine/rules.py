"""The declarative rule language: JSON expressions validated and normalised (evaluated by
worker.engine.rule_eval with the built-ins' indicator kernels). Nothing is evaluated as
code. Grammar (see docs/engine.md)::

    expr := number                                   constant
          | "open" | "high" | "low" | "close" | "volume"    price field
          | {"op": "const", "value": number}
          | {"op": "price", "field": name}
          | {"op": "sma" | "ema" | "rsi", "period": int >= 1, "of": expr = "close"}
          | {"op": "rolling_high", "period": int >= 1, "of": expr = "high"}
          | {"op": "rolling_low", "period": int >= 1, "of": expr = "low"}
          | {"op": "returns", "period": int >= 1 = 1, "of": expr = "close"}
          | {"op": "atr", "period": int >= 1 = 14}              Wilder ATR of the bars
          | {"op": "add" | "sub" | "mul" | "div", "args": [expr, expr]}          numbers
          | {"op": "gt" | "lt" | "ge" | "le", "args": [expr, expr]}          conditions
          | {"op": "crosses_above" | "crosses_below", "args": [expr, expr]}
          | {"op": "and" | "or", "args": [cond, cond, ...]} | {"op": "not", "args": [cond]}

Indicators and shifts are computed per symbol. Warm-up values are missing and every
comparison with a missing value is false.
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["number", "condition"]
PRICE_FIELDS = ("open", "high", "low", "close", "volume")
INDICATORS = ("sma", "ema", "rsi", "rolling_high", "rolling_low", "returns")
ARITHMETIC = ("add", "sub", "mul", "div")
COMPARISONS = ("gt", "lt", "ge", "le", "crosses_above", "crosses_below")
LOGIC = ("and", "or", "not")
BAR_INDICATORS = ("atr",)  # computed from high, low and close: no "of"
OPS = ("const", "price", *INDICATORS, *BAR_INDICATORS, *ARITHMETIC, *COMPARISONS, *LOGIC)
_DEFAULT_OF = {"rolling_high": "high", "rolling_low": "low"}
MAX_DEPTH = 32


class RuleError(ValueError):
    """A rule problem at a JSON path relative to the rule's root (e.g. ``.args[1].period``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        return f"op {obj.get('op')!r}" if "op" in obj else "an object without 'op'"
    return f"{type(obj).__name__} {obj!r}"


def _int(node: dict[str, Any], key: str, path: str, default: int | None = None) -> int:
    value = node.get(key, default)
    if value is None:
        raise RuleError(f"{path}.{key}", "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise RuleError(f"{path}.{key}", f"must be an integer, got {value!r}")
    if value < 1:
        raise RuleError(f"{path}.{key}", "must be >= 1")
    if value > 100_000:
        raise RuleError(f"{path}.{key}", "must be <= 100000")
    return value


def _keys(node: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    extra = sorted(set(node) - {"op", *allowed})
    if extra:
        raise RuleError(f"{path}.{extra[0]}", f"unknown key for op {node['op']!r}")


def validate(obj: Any, want: Kind, path: str = "", depth: int = 0) -> dict[str, Any]:
    """Validate and normalise ``obj`` to the full object form; raise RuleError with a path."""
    if depth > MAX_DEPTH:
        raise RuleError(path, f"nesting deeper than {MAX_DEPTH}")
    node: dict[str, Any]
    if isinstance(obj, bool):
        raise RuleError(path, "true/false is not an expression; use a comparison")
    if isinstance(obj, int | float):
        node = {"op": "const", "value": float(obj)}
    elif isinstance(obj, str):
        if obj not in PRICE_FIELDS:
            raise RuleError(
                path, f"unknown name {obj!r}; price fields are {', '.join(PRICE_FIELDS)}"
            )
        node = {"op": "price", "field": obj}
    elif isinstance(obj, dict):
        node = dict(obj)
    else:
        raise RuleError(
            path, f"expected an expression object, number or price name, got {_describe(obj)}"
        )
    op = node.get("op")
    if not isinstance(op, str):
        raise RuleError(f"{path}.op" if path else "op", "is required (a string)")
    if op not in OPS:
        raise RuleError(
            f"{path}.op" if path else "op", f"unknown op {op!r}; known ops: {', '.join(OPS)}"
        )
    kind: Kind = "condition" if op in COMPARISONS or op in LOGIC else "number"
    if kind != want:
        need = (
            "a condition (comparison, crosses_*, and/or/not)" if want == "condition" else "a number"
        )
        raise RuleError(path, f"must be {need}, got op {op!r}")
    out: dict[str, Any] = {"op": op}
    if op == "const":
        _keys(node, ("value",), path)
        value = node.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(f"{path}.value", f"must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise RuleError(f"{path}.value", "must be finite")
        out["value"] = float(value)
    elif op == "price":
        _keys(node, ("field",), path)
        if node.get("field") not in PRICE_FIELDS:
            raise RuleError(f"{path}.field", f"must be one of {', '.join(PRICE_FIELDS)}")
        out["field"] = node["field"]
    elif op in BAR_INDICATORS:
        _keys(node, ("period",), path)
        out["period"] = _int(node, "period", path, 14)
    elif op in INDICATORS:
        _keys(node, ("period", "of"), path)
        out["period"] = _int(node, "period", path, 1 if op == "returns" else None)
        of = node.get("of", _DEFAULT_OF.get(op, "close"))
        out["of"] = validate(of, "number", f"{path}.of", depth + 1)
    else:
        _keys(node, ("args",), path)
        args = node.get("args")
        if not isinstance(args, list):
            raise RuleError(f"{path}.args", "must be a list")
        if op == "not":
            count_ok, need_n = len(args) == 1, "exactly 1 argument"
        elif op in ("and", "or"):
            count_ok, need_n = len(args) >= 2, "at least 2 arguments"
        else:
            count_ok, need_n = len(args) == 2, "exactly 2 arguments"
        if not count_ok:
            raise RuleError(f"{path}.args", f"op {op!r} takes {need_n}, got {len(args)}")
        arg_kind: Kind = "condition" if op in LOGIC else "number"
        out["args"] = [
            validate(a, arg_kind, f"{path}.args[{i}]", depth + 1) for i, a in enumerate(args)
        ]
    return out
