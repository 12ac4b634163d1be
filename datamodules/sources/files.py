"""Readers of local example files: JSONL, TSV (two columns), Parquet, Arrow, and aligned plain-text pairs.

`datasets`' builders turn each file into a memory-mapped Arrow table once (cached under `$FTSCALE_CACHE/datasets`,
keyed by the file's path and modification time); when a builder fails, a line-by-line scan names the line at fault.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.progress import progress_bars
from ftscale.datamodules.sources.located import Located, file_blocks, table_blocks
from ftscale.datamodules.sources.scan import binary_error, explain_jsonl, jsonl_line, numbered_lines
from ftscale.errors import InputError, MissingFileError

TSV_COLUMNS = ("source", "target")
# Most rows in one record batch of the builders' Arrow files (the builders read about 10 MB at a time, so batches
# stay about that size). Mapping a file reads every batch's header and the kernel maps 64 KiB around each read:
# `datasets`' default of 1,000 rows would put ~15% of a large file in the resident set.
WRITER_BATCH_ROWS = 100_000


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"data file {str(path)!r} does not exist")
    return path


@contextmanager
def builder_errors_unlogged() -> Iterator[None]:
    """Within the block, the builders' own log lines about a file they cannot read are dropped: the readers raise one
    error naming the file (and the line or row where they can) instead."""
    builders = logging.getLogger("datasets.packaged_modules")
    level = builders.level
    builders.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        builders.setLevel(level)


def build(builder: str, path: Path) -> datasets.Dataset:
    """The file as a memory-mapped `datasets.Dataset` through one of `datasets`' packaged builders."""
    # A small file reads in a blink: its progress bar would only clutter a sweep's output.
    with progress_bars(path.stat().st_size // 100), builder_errors_unlogged():
        return datasets.load_dataset(
            builder,
            data_files=str(path),
            split="train",
            cache_dir=str(cache_dir("datasets")),
            writer_batch_size=WRITER_BATCH_ROWS,
        )


def _empty(path: Path, what: str) -> InputError:
    return InputError(f"{path}: the file is empty; expected {what}")


def read_jsonl(path: str | Path) -> Located:
    """One JSON object per line (blank lines are skipped)."""
    path = _existing(path)
    try:
        data = build("json", path)
    except Exception as error:  # the builder's errors name no line: find it
        raise explain_jsonl(path, error.__cause__ or error) from None
    if not len(data):
        raise _empty(path, "one JSON object per line")
    read = file_blocks([f["filename"] for f in data.cache_files])

    def blocks() -> Iterator[pa.Table]:
        for block in read():
            try:
                block.validate(full=True)  # pyarrow's JSON reader does not check UTF-8; a full validation does
            except pa.ArrowInvalid as error:
                raise explain_jsonl(path, error) from None
            yield block

    return Located(blocks, file_key(path), lambda row: f"{path} line {jsonl_line(path, row)}")


def _text(path: Path) -> datasets.Dataset:
    """A UTF-8 text file, one row per line (row i is line i + 1); bad bytes name line and offset."""
    try:
        return build("text", path)
    except Exception:
        for _ in numbered_lines(path):  # raises at the first line that is not UTF-8
            pass
        raise


def lines(path: str | Path) -> pa.ChunkedArray:
    """The lines of a UTF-8 text file, memory-mapped."""
    path = _existing(path)
    if not path.stat().st_size:
        return pa.chunked_array([], pa.string())
    return _text(path).data.table.column("text")


def file_key(*paths: str | Path) -> str:
    """An identity of files' contents that needs no reading: path, modification time and size."""
    stats = [(_existing(p).resolve(), Path(p).stat()) for p in paths]
    return "|".join(f"{path}:{stat.st_mtime_ns}:{stat.st_size}" for path, stat in stats)


def read_tsv(path: str | Path) -> Located:
    """Two tab-separated columns per line, no header: the source text, then the target text."""
    path = _existing(path)
    if not path.stat().st_size:
        raise _empty(path, "lines of source<TAB>target")
    text = file_blocks([f["filename"] for f in _text(path).cache_files])

    def blocks() -> Iterator[pa.Table]:
        offset = 0
        for block in text():
            columns = pc.split_pattern(block.column("text"), "\t")
            counts = pc.list_value_length(columns)
            if (bad := pc.index(pc.not_equal(counts, len(TSV_COLUMNS)), True).as_py()) >= 0:
                raise InputError(
                    f"{path} line {offset + bad + 1}: {counts[bad]} tab-separated column(s); expected 2 "
                    "(source<TAB>target)"
                )
            yield pa.table({name: pc.list_element(columns, i) for i, name in enumerate(TSV_COLUMNS)})
            offset += len(block)

    return Located(blocks, file_key(path), lambda row: f"{path} line {row + 1}")


def _read_binary(builder: str, path: str | Path) -> Located:
    """One record per row (rows counted from 1) of a Parquet or Arrow file; a file its builder cannot read is named."""
    path = _existing(path)
    try:
        data = build(builder, path)
    except (pa.ArrowException, datasets.exceptions.DatasetGenerationError) as error:
        raise binary_error(path, error.__cause__ or error) from None
    if not len(data):
        raise _empty(path, "rows")
    read = file_blocks([f["filename"] for f in data.cache_files])
    return Located(read, file_key(path), lambda row: f"{path} row {row + 1}")


def read_parquet(path: str | Path) -> Located:
    """A Parquet file: one record per row."""
    return _read_binary("parquet", path)


def read_arrow(path: str | Path) -> Located:
    """An Arrow IPC file or stream (as `datasets` writes, e.g. `save_to_disk` shards): one record per row."""
    return _read_binary("arrow", path)


def read_text_pair(source_path: str | Path, target_path: str | Path) -> Located:
    """Aligned plain-text files, one sentence per line: line i of the source translates line i of the target."""
    sources, targets = lines(source_path), lines(target_path)
    if len(sources) != len(targets):
        raise InputError(
            f"misaligned text pair: {source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
            "expected one sentence per line in both, line i of one translating line i of the other"
        )
    if not len(sources):
        raise _empty(Path(source_path), "one sentence per line")
    table = pa.table({"source": sources, "target": targets})
    origin = f"{source_path} / {target_path}"
    return Located(table_blocks(table), file_key(source_path, target_path), lambda r: f"{origin} line {r + 1}")


READERS = {".jsonl": read_jsonl, ".tsv": read_tsv, ".parquet": read_parquet, ".arrow": read_arrow}


def read_file(path: str | Path) -> Located:
    """The records of a `.jsonl`, `.tsv`, `.parquet` or `.arrow` file, chosen by its suffix."""
    suffix = Path(path).suffix
    if suffix not in READERS:
        raise InputError(f"data file {str(path)!r}: unknown format {suffix!r}; expected one of {', '.join(READERS)}")
    return READERS[suffix](path)
