"""The declarative rule language: JSON expressions validated, then compiled to polars.

Nothing is evaluated as code. Grammar (see docs/engine.md)::

    expr := number                                   constant
          | "open" | "high" | "low" | "close" | "volume"    price field
          | {"op": "const", "value": number}
          | {"op": "price", "field": name}
          | {"op": "sma" | "ema" | "rsi", "period": int >= 1, "of": expr = "close"}
          | {"op": "rolling_high", "period": int >= 1, "of": expr = "high"}
          | {"op": "rolling_low", "period": int >= 1, "of": expr = "low"}
          | {"op": "returns", "period": int >= 1 = 1, "of": expr = "close"}
          | {"op": "add" | "sub" | "mul" | "div", "args": [expr, expr]}          numbers
          | {"op": "gt" | "lt" | "ge" | "le", "args": [expr, expr]}          conditions
          | {"op": "crosses_above" | "crosses_below", "args": [expr, expr]}
          | {"op": "and" | "or", "args": [cond, cond, ...]} | {"op": "not", "args": [cond]}

Indicators and shifts are computed per symbol (``.over("symbol")``). Warm-up values are
null and every comparison with null is false.
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

Kind = Literal["number", "condition"]
PRICE_FIELDS = ("open", "high", "low", "close", "volume")
INDICATORS = ("sma", "ema", "rsi", "rolling_high", "rolling_low", "returns")
ARITHMETIC = ("add", "sub", "mul", "div")
COMPARISONS = ("gt", "lt", "ge", "le", "crosses_above", "crosses_below")
LOGIC = ("and", "or", "not")
OPS = ("const", "price", *INDICATORS, *ARITHMETIC, *COMPARISONS, *LOGIC)
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


def _w(expr: pl.Expr, grouped: bool) -> pl.Expr:
    return expr.over("symbol") if grouped else expr


def compile_expr(node: dict[str, Any], grouped: bool) -> pl.Expr:
    """Compile a validated node into a polars expression (per symbol if ``grouped``)."""
    op = node["op"]
    if op == "const":
        return pl.lit(node["value"], dtype=pl.Float64)
    if op == "price":
        return pl.col(node["field"])
    if op in INDICATORS:
        x = compile_expr(node["of"], grouped)
        p = int(node["period"])
        if op == "sma":
            return _w(x.rolling_mean(p, min_samples=p), grouped)
        if op == "ema":
            return _w(x.ewm_mean(span=p, adjust=False, min_samples=p), grouped)
        if op == "rolling_high":
            return _w(x.rolling_max(p, min_samples=p), grouped)
        if op == "rolling_low":
            return _w(x.rolling_min(p, min_samples=p), grouped)
        if op == "returns":
            return (x / _w(x.shift(p), grouped) - 1.0).fill_nan(None)
        delta = _w(x.diff(), grouped)
        gain = _w(
            delta.clip(lower_bound=0.0).ewm_mean(alpha=1 / p, adjust=False, min_samples=p), grouped
        )
        loss = _w(
            (-delta).clip(lower_bound=0.0).ewm_mean(alpha=1 / p, adjust=False, min_samples=p),
            grouped,
        )
        flat = pl.when(gain == 0).then(50.0).otherwise(100.0)
        return pl.when(loss == 0).then(flat).otherwise(100.0 - 100.0 / (1.0 + gain / loss))
    args = [compile_expr(a, grouped) for a in node["args"]]
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "div":
        return (args[0] / args[1]).fill_nan(None)
    if op == "gt":
        return args[0] > args[1]
    if op == "lt":
        return args[0] < args[1]
    if op == "ge":
        return args[0] >= args[1]
    if op == "le":
        return args[0] <= args[1]
    if op in ("crosses_above", "crosses_below"):
        d = args[0] - args[1]
        prev = _w(d.shift(1), grouped)
        return (d > 0) & (prev < 0) if op == "crosses_above" else (d < 0) & (prev > 0)
    if op == "and":
        return pl.all_horizontal(args)
    if op == "or":
        return pl.any_horizontal(args)
    return ~args[0]
