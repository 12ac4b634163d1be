"""Line-by-line scans of a file, run only to explain a file that its Arrow builder could not read."""

import json
from collections.abc import Iterator
from pathlib import Path


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for each line of a UTF-8 file; bad bytes name line and offset."""
    offset = 0
    with Path(path).open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path} line {number}: invalid UTF-8 byte 0x{raw[error.start]:02x} at byte offset "
                    f"{offset + error.start} of the file ({error.start} of the line); expected UTF-8 text"
                ) from None
            offset += len(raw)
            yield number, text.rstrip("\r\n")


def explain_jsonl(path: str | Path, cause: Exception) -> ValueError:
    """The error of the first line that is not UTF-8, not JSON or not an object (or of an empty file)."""
    records, types = 0, {}  # the JSON type of each field where it was first seen: (type, line)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return ValueError(
                f"{path} line {number}: malformed JSON ({error.msg} at column {error.colno}); expected one JSON "
                "object per line"
            )
        if not isinstance(value, dict):
            return ValueError(f"{path} line {number}: a JSON {type(value).__name__}; expected one JSON object per line")
        for field, item in value.items():
            kind, first = types.setdefault(field, (type(item), number))
            if item is not None and kind is not type(None) and kind is not type(item):
                return ValueError(
                    f"{path} line {number}: field '{field}' is {type(item).__name__} but {kind.__name__} on line "
                    f"{first}; expected the same type on every line"
                )
        records += 1
    if not records:
        return ValueError(f"{path}: the file is empty; expected one JSON object per line")
    return ValueError(f"{path}: {cause}; expected one JSON object per line, with the same fields on every line")


def jsonl_line(path: str | Path, row: int) -> int:
    """The line number of record `row` (0-based) of a JSON-lines file, whose blank lines hold no record."""
    seen = -1
    with Path(path).open("rb") as file:
        for number, raw in enumerate(file, 1):
            seen += bool(raw.strip())
            if seen == row:
                return number
    raise IndexError(f"{path} has no record {row}")
