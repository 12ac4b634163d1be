"""Readers of local example files: JSONL, TSV (two columns), Parquet, and aligned plain-text pairs.

Each reader checks the file as it reads it and names the file and line (or row) of what is wrong.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from ftscale.datamodules.sources.record import Record

TSV_COLUMNS = ("source", "target")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    return path


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for each line of a UTF-8 file; bad bytes name line and offset."""
    path = _existing(path)
    offset = 0
    with path.open("rb") as file:
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


def _non_empty(records: list[Record], path: Path, what: str) -> list[Record]:
    if not records:
        raise ValueError(f"{path}: the file is empty; expected {what}")
    return records


def read_jsonl(path: str | Path) -> list[Record]:
    """One JSON object per line (blank lines are skipped)."""
    records = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        origin = f"{path} line {number}"
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{origin}: malformed JSON ({error.msg} at column {error.colno}); expected one JSON object per line"
            ) from None
        if not isinstance(fields, dict):
            raise ValueError(f"{origin}: a JSON {type(fields).__name__}; expected one JSON object per line")
        records.append(Record(fields, origin))
    return _non_empty(records, Path(path), "one JSON object per line")


def read_tsv(path: str | Path) -> list[Record]:
    """Two tab-separated columns per line, no header: the source text, then the target text."""
    records = []
    for number, line in read_lines(path):
        columns = line.split("\t")
        if len(columns) != len(TSV_COLUMNS):
            raise ValueError(
                f"{path} line {number}: {len(columns)} tab-separated column(s); expected 2 (source<TAB>target)"
            )
        records.append(Record(dict(zip(TSV_COLUMNS, columns, strict=True)), f"{path} line {number}"))
    return _non_empty(records, Path(path), "lines of source<TAB>target")


def read_parquet(path: str | Path) -> list[Record]:
    """One record per row (rows counted from 1)."""
    path = _existing(path)
    rows = pq.read_table(path).to_pylist()
    return _non_empty([Record(row, f"{path} row {i}") for i, row in enumerate(rows, 1)], path, "rows")


def read_text_pair(source_path: str | Path, target_path: str | Path) -> list[Record]:
    """Aligned plain-text files, one sentence per line: line i of the source translates line i of the target."""
    sources = [line for _, line in read_lines(source_path)]
    targets = [line for _, line in read_lines(target_path)]
    if len(sources) != len(targets):
        raise ValueError(
            f"misaligned text pair: {source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
            "expected one sentence per line in both, line i of one translating line i of the other"
        )
    records = [
        Record({"source": s, "target": t}, f"{source_path} / {target_path} line {i}")
        for i, (s, t) in enumerate(zip(sources, targets, strict=True), 1)
    ]
    return _non_empty(records, Path(source_path), "one sentence per line")


READERS = {".jsonl": read_jsonl, ".tsv": read_tsv, ".parquet": read_parquet}


def read_file(path: str | Path) -> list[Record]:
    """The records of a `.jsonl`, `.tsv` or `.parquet` file, chosen by its suffix."""
    suffix = Path(path).suffix
    if suffix not in READERS:
        raise ValueError(f"data file {str(path)!r}: unknown format {suffix!r}; expected one of {', '.join(READERS)}")
    return READERS[suffix](path)
