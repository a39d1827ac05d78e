"""Thrift's compact protocol, read into plain values and written back byte for byte.

A Parquet footer is a thrift struct in this protocol. No schema is needed to read it: every
field carries its id and wire type, so a struct becomes ``{field id: (wire type, value)}``
(in the order read, which ``encode`` keeps), a list ``(element type, [values])``. Only what
Parquet footers use: no maps or sets, and booleans only as struct fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BINARY", "I32", "I64", "LIST", "STRUCT", "Struct", "decode", "encode"]

TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)

Struct = dict[int, tuple[int, Any]]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _value(data: bytes, at: int, kind: int) -> tuple[Any, int]:
    if kind in (I16, I32, I64):
        raw, at = _varint(data, at)
        return _unzigzag(raw), at
    if kind == BINARY:
        size, at = _varint(data, at)
        return data[at : at + size], at + size
    if kind == STRUCT:
        return _struct(data, at)
    if kind == LIST:
        header = data[at]
        at += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, at = _varint(data, at)
        items = []
        for _ in range(size):
            item, at = _value(data, at, element)
            items.append(item)
        return (element, items), at
    if kind == BYTE:
        return data[at], at + 1
    if kind == DOUBLE:
        return data[at : at + 8], at + 8
    raise ValueError(f"thrift compact type {kind} is not read here")


def _struct(data: bytes, at: int) -> tuple[Struct, int]:
    fields: Struct = {}
    last = 0
    while True:
        header = data[at]
        at += 1
        if header == 0:
            return fields, at
        delta, kind = header >> 4, header & 0x0F
        if delta:
            field = last + delta
        else:
            raw, at = _varint(data, at)
            field = _unzigzag(raw)
        if kind in (TRUE, FALSE):
            fields[field] = (kind, kind == TRUE)
        else:
            value, at = _value(data, at, kind)
            fields[field] = (kind, value)
        last = field


def decode(data: bytes) -> Struct:
    """The struct that ``data`` holds (its whole length)."""
    fields, end = _struct(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the struct")
    return fields


def _write_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_value(out: bytearray, kind: int, value: Any) -> None:
    if kind in (I16, I32, I64):
        _write_varint(out, (value << 1) ^ (value >> 63))
    elif kind == BINARY:
        _write_varint(out, len(value))
        out += value
    elif kind == STRUCT:
        _write_struct(out, value)
    elif kind == LIST:
        element, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | element)
        else:
            out.append(0xF0 | element)
            _write_varint(out, len(items))
        for item in items:
            _write_value(out, element, item)
    elif kind == BYTE:
        out.append(value)
    elif kind == DOUBLE:
        out += value
    else:
        raise ValueError(f"thrift compact type {kind} is not written here")


def _write_struct(out: bytearray, fields: Struct) -> None:
    last = 0
    for field, (kind, value) in fields.items():
        if 0 < field - last <= 15:
            out.append((field - last) << 4 | kind)
        else:
            out.append(kind)
            _write_varint(out, (field << 1) ^ (field >> 63))
        if kind not in (TRUE, FALSE):
            _write_value(out, kind, value)
        last = field
    out.append(0)


def encode(fields: Struct) -> bytes:
    """The bytes of a struct as ``decode`` reads it (the same bytes, for a struct it read)."""
    out = bytearray()
    _write_struct(out, fields)
    return bytes(out)
