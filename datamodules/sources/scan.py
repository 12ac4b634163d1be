"""Scans of a file, run only to explain a file that its Arrow builder could not read: line by line for text, batch by
batch for Parquet and Arrow (the builders' errors name no file, and a task or hub dataset reads several)."""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ftscale.errors import InputError


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for each line of a UTF-8 file; bad bytes name line and offset."""
    offset = 0
    with Path(path).open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{path} line {number}: invalid UTF-8 byte 0x{raw[error.start]:02x} at byte offset "
                    f"{offset + error.start} of the file ({error.start} of the line); expected UTF-8 text"
                ) from None
            offset += len(raw)
            yield number, text.rstrip("\r\n")


def explain_jsonl(path: str | Path, cause: Exception) -> InputError:
    """The error of the first line that is not UTF-8, not JSON or not an object (or of an empty file)."""
    records, types = 0, {}  # the JSON type of each field where it was first seen: (type, line)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return InputError(
                f"{path} line {number}: malformed JSON ({error.msg} at column {error.colno}); expected one JSON "
                "object per line"
            )
        if not isinstance(value, dict):
            return InputError(f"{path} line {number}: a JSON {type(value).__name__}; expected one JSON object per line")
        for field, item in value.items():
            kind, first = types.setdefault(field, (type(item), number))
            if item is not None and kind is not type(None) and kind is not type(item):
                return InputError(
                    f"{path} line {number}: field '{field}' is {type(item).__name__} but {kind.__name__} on line "
                    f"{first}; expected the same type on every line"
                )
        records += 1
    if not records:
        return InputError(f"{path}: the file is empty; expected one JSON object per line")
    return InputError(f"{path}: {cause}; expected one JSON object per line, with the same fields on every line")


BINARY = {".parquet": "Parquet", ".arrow": "Arrow"}  # binary formats, by suffix


def binary_error(path: str | Path, cause: BaseException) -> InputError:
    """The one-line error of a Parquet or Arrow file that cannot be read, naming it and the reader's reason."""
    kind = BINARY.get(Path(path).suffix, "data")
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return InputError(f"{path}: not a readable {kind} file ({reason}); expected an intact {kind} file")


def _read_binary(path: Path) -> None:
    """Read every record batch of a Parquet or Arrow (IPC stream or file) file; raises where one cannot be read."""
    if path.suffix == ".parquet":
        for _ in pq.ParquetFile(path).iter_batches():
            pass
        return
    with pa.OSFile(str(path)) as source:
        try:  # `datasets` writes streams; what does not open as one is read as an Arrow file, as its builder does
            stream = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            stream = None
        if stream is not None:
            for _ in stream:
                pass
            return
    reader = pa.ipc.open_file(str(path))
    for index in range(reader.num_record_batches):
        reader.get_batch(index)


def explain_binary(paths: Iterable[str | Path]) -> InputError | None:
    """The error of the first Parquet or Arrow file among `paths` that cannot be read whole; None if all can."""
    for path in map(Path, paths):
        if path.suffix in BINARY and path.is_file():
            try:
                _read_binary(path)
            except (pa.ArrowException, OSError) as error:
                return binary_error(path, error)
    return None


def jsonl_line(path: str | Path, row: int) -> int:
    """The line number of record `row` (0-based) of a JSON-lines file, whose blank lines hold no record."""
    seen = -1
    with Path(path).open("rb") as file:
        for number, raw in enumerate(file, 1):
            seen += bool(raw.strip())
            if seen == row:
                return number
    raise IndexError(f"{path} has no record {row}")
