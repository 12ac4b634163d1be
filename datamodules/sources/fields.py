"""Checked text fields of a `Located` table: one vectorised pass (pyarrow.compute) per field, not a loop over rows.

The first bad row (missing field, missing language, not a string, empty) fails with the file, line and field named.
Blocks are checked one after the other, so a large file is checked without holding it in memory.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ftscale.datamodules.sources.located import Located
from ftscale.errors import InputError

EMPTY = r"^[\s\p{Z}]*$"  # only whitespace, as `str.strip()` sees it


@dataclass
class Dropped:
    """Rows dropped for an empty side so far, and where the first was."""

    count: int = 0
    first: str | None = None


def _first(mask: pa.ChunkedArray) -> int | None:
    """The first row where a boolean mask is true, or None."""
    row = pc.index(mask, True).as_py()
    return None if row < 0 else row


def _present(value: dict | None) -> str:
    """The names of the non-null fields of a record."""
    return ", ".join(sorted(key for key, item in (value or {}).items() if item is not None))


def _is_json(kind: pa.DataType) -> bool:
    """Whether a column is `datasets`' Json type: a field whose type differs between records, kept as JSON text."""
    return isinstance(kind, pa.BaseExtensionType) and pa.types.is_string(kind.storage_type)


def _storage(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)


def _as_struct(storage: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """JSON objects (one per row) as a struct column whose absent keys are null, parsed by pyarrow's JSON reader;
    None when their values' types disagree."""
    text = storage.cast(pa.large_string()).combine_chunks()
    # One object per line: JSON text never holds a raw newline, so the rows stay aligned.
    newline = pa.scalar("\n", pa.large_string())
    lines = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, len(text)], pa.int64()), text), newline)[0]
    try:
        table = pa_json.read_json(pa.BufferReader(lines.as_buffer())).combine_chunks()
    except pa.ArrowInvalid:
        return None
    return pa.chunked_array([pa.StructArray.from_arrays([c.chunk(0) for c in table.columns], table.column_names)])


def _resolve(table: pa.Table, name: str) -> tuple[pa.ChunkedArray | None, tuple[int, str] | None]:
    """The column of the dotted field `name`, or (first row lacking it, message) when a row lacks it."""
    keys = name.split(".")

    def missing(row: int) -> tuple[int, str]:
        fields = _present(table.slice(row, 1).to_pylist()[0]) or "(none)"
        return row, f"missing field '{name}'; the record has fields {fields}"

    if keys[0] not in table.column_names:
        return None, missing(0)
    column = table.column(keys[0])
    if (row := _first(pc.is_null(column))) is not None:
        return None, missing(row)
    for depth, key in enumerate(keys[1:], 1):
        if _is_json(column.type):  # records disagree on the field's keys or type: name the first that is no object
            storage = _storage(column)
            row = _first(pc.invert(pc.starts_with(storage, "{")))
            column = _as_struct(storage) if row is None else None
            if column is None:
                shape = f"is {type(json.loads(storage[row].as_py())).__name__}" if row is not None else "varies"
                return None, (row or 0, f"field '{'.'.join(keys[:depth])}' {shape}; expected an object")
        if not pa.types.is_struct(column.type):
            return None, missing(0)
        parent = column  # no nulls: each level was checked before going down
        if parent.type.get_field_index(key) < 0:
            row = 0
        else:
            column = pc.struct_field(parent, key)
            row = _first(pc.is_null(column))
        if row is not None:
            # A key missing inside a language map (WMT's `translation`) is a missing language.
            languages = _present(parent[row].as_py()) or "none"
            return None, (
                row,
                f"field '{'.'.join(keys[:depth])}' has no language '{key}' (it has {languages}); expected both "
                "languages of the pair",
            )
    return column, None


def _not_string(column: pa.ChunkedArray, name: str) -> tuple[int, str] | None:
    """(first row whose value is not a string, message), or None."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return None
    if _is_json(column.type):  # strings are the quoted values
        storage = _storage(column)
        row = _first(pc.invert(pc.starts_with(storage, '"')))
        value = json.loads(storage[row].as_py()) if row is not None else ""
    else:
        row, value = 0, column[0].as_py()
    return None if row is None else (row, f"field '{name}' is {type(value).__name__}; expected a string")


def _checked_block(
    block: pa.Table, offset: int, located: Located, fields: tuple[str, str], drop_empty: bool, dropped: Dropped
) -> pa.Table:
    """The `source` and `target` columns of one block whose first row is row `offset` of the whole."""
    errors, columns, empties = [], [], []
    for order, name in enumerate(fields):
        column, error = _resolve(block, name)
        error = error or _not_string(column, name)
        if error is not None:
            errors.append((error[0], order, error[1]))
            continue
        empty = pc.match_substring_regex(column, EMPTY)
        if not drop_empty and (row := _first(empty)) is not None:
            errors.append((row, order, f"field '{name}' is empty; expected non-empty text"))
        columns.append(column)
        empties.append(empty)
    if errors:
        row, _, message = min(errors)  # the first bad row, as a reader going line by line would meet it
        raise InputError(f"{located.origin(offset + row)}: {message}")
    table = pa.table({"source": columns[0], "target": columns[1]})
    drop = pc.or_(*empties)
    if (row := _first(drop)) is None:
        return table
    dropped.first = dropped.first or located.origin(offset + row)
    dropped.count += pc.sum(drop).as_py()
    return table.filter(pc.invert(drop))


def text_pairs(
    located: Located, source: str, target: str, drop_empty: bool = False, dropped: Dropped | None = None
) -> Iterator[pa.Table]:
    """The `source` and `target` fields of every row as text, a block at a time; with `drop_empty`, rows with an
    empty side are dropped and counted in `dropped`."""
    offset, dropped = 0, dropped or Dropped()
    for block in located.blocks():
        yield _checked_block(block, offset, located, (source, target), drop_empty, dropped)
        offset += len(block)
