"""One Parquet file from files of its columns written apart: their bytes, concatenated.

pyarrow encodes a file's columns one after the other on one thread (Arrow's parallel column
writing is not exposed to Python). A column chunk's bytes do not depend on the other columns,
so files of consecutive columns of one table, written with the same options on separate
threads, are the whole file's chunks: ``joined`` puts their chunks one after the other and
writes the footer they make together, the schema and row group of the whole table with the
later parts' offsets moved by the chunks before them. The result is the file one writer gives
(tested byte for byte against ``pyarrow.parquet.write_table``).

Only for what it can join exactly: one row group per part, no page index, bloom filters or
encryption (each is refused).
"""

from __future__ import annotations

import base64
import struct

import pyarrow as pa

from worker.results import thrift_compact as thrift

__all__ = ["column_halves", "joined"]

MAGIC = b"PAR1"
ARROW_SCHEMA = b"ARROW:schema"

# thrift field ids of parquet.thrift's structs
_FILE_SCHEMA, _FILE_NUM_ROWS, _FILE_ROW_GROUPS = 2, 3, 4
_FILE_KEY_VALUES, _FILE_COLUMN_ORDERS = 5, 7
_SCHEMA_NUM_CHILDREN = 5
_GROUP_COLUMNS, _GROUP_BYTES, _GROUP_COMPRESSED = 1, 2, 6
_CHUNK_FILE_OFFSET, _CHUNK_META = 2, 3
_CHUNK_ELSEWHERE = {1: "file_path", 4: "offset index", 6: "column index", 8: "encryption"}
_META_OFFSETS = (9, 10, 11)  # data page, index page, dictionary page
_META_BLOOM = 14
_KEY, _VALUE = 1, 2


def column_halves(table: pa.Table) -> list[pa.Table]:
    """The table's first and second half of columns (no copy)."""
    half = (table.num_columns + 1) // 2
    return [table.select(range(half)), table.select(range(half, table.num_columns))]


def _footer(data: bytes) -> tuple[int, thrift.Struct]:
    """Where the file's column chunks end, and its footer."""
    if data[:4] != MAGIC or data[-4:] != MAGIC:
        raise ValueError("not a Parquet file")
    (size,) = struct.unpack("<I", data[-8:-4])
    end = len(data) - 8 - size
    return end, thrift.decode(data[end:-8])


def _moved(chunk: thrift.Struct, by: int) -> thrift.Struct:
    """A column chunk's metadata with its offsets ``by`` bytes later."""
    elsewhere = [name for field, name in _CHUNK_ELSEWHERE.items() if field in chunk]
    if elsewhere:
        raise ValueError(f"a column chunk with {', '.join(elsewhere)} is not joined")
    moved = dict(chunk)
    kind, offset = chunk[_CHUNK_FILE_OFFSET]
    if offset:  # 0: not set (the field is deprecated)
        moved[_CHUNK_FILE_OFFSET] = (kind, offset + by)
    meta = dict(chunk[_CHUNK_META][1])
    if _META_BLOOM in meta:
        raise ValueError("a column chunk with a bloom filter is not joined")
    for field in _META_OFFSETS:
        if field in meta:
            kind, offset = meta[field]
            meta[field] = (kind, offset + by)
    moved[_CHUNK_META] = (thrift.STRUCT, meta)
    return moved


def _group(footer: thrift.Struct) -> thrift.Struct:
    groups = footer[_FILE_ROW_GROUPS][1][1]
    if len(groups) != 1:
        raise ValueError(f"a part with {len(groups)} row groups is not joined")
    group: thrift.Struct = groups[0]
    return group


def _key_values(footer: thrift.Struct, schema: pa.Schema) -> tuple[int, object]:
    """The first part's key-value metadata with the whole table's Arrow schema (as the writer
    stores it: the IPC schema message, base64)."""
    kind, (element, pairs) = footer[_FILE_KEY_VALUES]
    whole = base64.b64encode(schema.serialize().to_pybytes())
    return kind, (
        element,
        [
            {**pair, _VALUE: (thrift.BINARY, whole)} if pair[_KEY][1] == ARROW_SCHEMA else pair
            for pair in pairs
        ],
    )


def joined(schema: pa.Schema, parts: list[bytes]) -> bytes:
    """The Parquet file of a table whose consecutive columns' files are ``parts`` (written
    with the same options; ``schema`` the whole table's Arrow schema)."""
    footers = [_footer(part) for part in parts]
    first = footers[0][1]
    rows = first[_FILE_NUM_ROWS][1]
    bodies: list[bytes | memoryview] = []
    chunks: list[thrift.Struct] = []
    elements = [first[_FILE_SCHEMA][1][1][0]]
    orders: list[thrift.Struct] = []
    uncompressed = compressed = 0
    at = 0  # bytes of the joined parts' chunks before this part's
    for part, (end, footer) in zip(parts, footers, strict=True):
        if footer[_FILE_NUM_ROWS][1] != rows:
            raise ValueError("parts of different lengths")
        group = _group(footer)
        chunks += [_moved(chunk, at) for chunk in group[_GROUP_COLUMNS][1][1]]
        uncompressed += group[_GROUP_BYTES][1]
        compressed += group[_GROUP_COMPRESSED][1]
        elements += footer[_FILE_SCHEMA][1][1][1:]
        orders += footer[_FILE_COLUMN_ORDERS][1][1]
        bodies.append(memoryview(part)[4:end])
        at += end - 4
    root = {**elements[0], _SCHEMA_NUM_CHILDREN: (thrift.I32, len(elements) - 1)}
    group = {
        **_group(first),
        _GROUP_COLUMNS: (thrift.LIST, (thrift.STRUCT, chunks)),
        _GROUP_BYTES: (thrift.I64, uncompressed),
        _GROUP_COMPRESSED: (thrift.I64, compressed),
    }
    footer = {
        **first,
        _FILE_SCHEMA: (thrift.LIST, (thrift.STRUCT, [root, *elements[1:]])),
        _FILE_ROW_GROUPS: (thrift.LIST, (thrift.STRUCT, [group])),
        _FILE_COLUMN_ORDERS: (thrift.LIST, (thrift.STRUCT, orders)),
    }
    if _FILE_KEY_VALUES in first:
        footer[_FILE_KEY_VALUES] = _key_values(first, schema)
    encoded = thrift.encode(footer)
    return b"".join([MAGIC, *bodies, encoded, struct.pack("<I", len(encoded)), MAGIC])
