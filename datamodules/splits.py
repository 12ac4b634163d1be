"""Splits as memory-mapped Arrow files of `source`, `target` and `language` columns, written once per content key.

A task's split is checked and written on first use (`$FTSCALE_CACHE/splits/<key>.arrow`, a block of rows at a
time); later runs map the file, so a run holds no Python list of its examples and a warm run skips reading and
checking the raw data. `<key>.json` beside it keeps the split's language and the count of examples dropped for an
empty side.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lightning.pytorch.utilities import rank_zero_warn

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.sources import Dropped, Located, text_pairs
from ftscale.datamodules.sources.located import file_blocks

SPLIT_VERSION = "split-v3"  # bump when the columns, the checks or the file layout change
SCHEMA = pa.schema([(name, pa.string()) for name in ("source", "target", "language")])
# Rows are stored in record batches of about this size. Opening a mapped Arrow stream reads each batch's header,
# and each read maps in the pages around it (the kernel's fault-around, 64 KiB): many small batches would put
# a share of the whole file in the resident set of every run (~15% with 1,000-row batches).
BATCH_BYTES = 32 * 2**20
# Rows read at a time where a split is read without a file to stream (in memory, or a selection).
READ_ROWS = 65_536


def _batches(blocks: Iterator[pa.Table], language: str) -> Iterator[pa.RecordBatch]:
    """The blocks with their `language` column, regrouped into record batches of about BATCH_BYTES."""
    pending: list[pa.Table] = []
    size = 0
    for block in blocks:
        pending.append(block.append_column("language", pa.repeat(language, len(block))))
        size += pending[-1].nbytes
        if size >= BATCH_BYTES:
            yield from pa.concat_tables(pending).combine_chunks().to_batches()
            pending, size = [], 0
    if pending:
        yield from pa.concat_tables(pending).combine_chunks().to_batches()


def cached_split(key: str, build: Callable[[], tuple[Iterator[pa.Table], str, Dropped]]) -> datasets.Dataset:
    """The split stored under `key`; on a miss, `build()` gives its blocks of checked pairs, their language and what
    was dropped, and they are written."""
    digest = hashlib.sha256(f"{SPLIT_VERSION}|{key}".encode()).hexdigest()[:32]
    path = cache_dir("splits") / f"{digest}.arrow"
    if not path.is_file():
        blocks, language, dropped = build()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
            for batch in _batches(blocks, language):
                writer.write_batch(batch)
        note = {"language": language, "dropped": dropped.count, "first": dropped.first}
        path.with_suffix(".json").write_text(json.dumps(note))
        tmp.replace(path)  # atomic, and last: a concurrent reader sees the whole split or none
    return datasets.Dataset.from_file(str(path))


def _notes(split: datasets.Dataset) -> list[dict] | None:
    """The notes (`<key>.json`) of the stored splits whose rows, in order, are those of `split`; None when it is
    not made of whole stored splits (in memory, or a selection of rows)."""
    paths = [Path(f["filename"]) for f in split.cache_files]
    if split._indices is not None or not paths or not all(p.with_suffix(".json").is_file() for p in paths):
        return None
    return [json.loads(p.with_suffix(".json").read_text()) for p in paths]


def split_languages(split: datasets.Dataset) -> list[str]:
    """The sorted language codes of a split: from the notes of its stored files (no row is read), else from its
    `language` column."""
    notes = _notes(split)
    if notes is not None and all("language" in note for note in notes):
        return sorted({note["language"] for note in notes})
    return sorted(pc.unique(split.data.column("language")).to_pylist())


def split_blocks(split: datasets.Dataset) -> Iterator[pa.Table]:
    """The rows of a split in order, a block at a time. A stored split is read from its files, not through its
    memory map: pages read that way do not stay in the process's resident set, so a pass over a split of any size
    holds about one block."""
    if _notes(split) is None:
        return split.with_format("arrow").iter(batch_size=READ_ROWS)
    return file_blocks([f["filename"] for f in split.cache_files])()


def gather(split: datasets.Dataset, rows: np.ndarray) -> pa.Table:
    """The split's rows at the distinct indices `rows`, in that order, in memory. One pass over the split's blocks
    keeps the wanted rows of each: memory is one block and the rows taken, whatever the split's size (a random
    take through the memory map would map in most of the file)."""
    wanted = np.sort(rows)
    parts, start = [], 0
    for block in split_blocks(split):
        first, last = np.searchsorted(wanted, [start, start + len(block)])
        if last > first:
            parts.append(block.take(wanted[first:last] - start))
        start += len(block)
    if start != len(split):
        raise RuntimeError(f"read {start} rows of a split of {len(split)}; its files do not hold its rows in order")
    # Row j of the parts is `wanted[j]`: put them in the order of `rows`.
    return pa.concat_tables(parts).take(np.searchsorted(wanted, rows))


def checked_split(
    key: str, read: Callable[[], Located], source: str, target: str, language: str, drop_empty: bool
) -> datasets.Dataset:
    """The split of the records `read()` gives (read and checked only on a miss of content `key`), in `language`;
    pairs dropped for an empty side are counted in a warning on every load."""

    def build() -> tuple[Iterator[pa.Table], str, Dropped]:
        dropped = Dropped()
        return text_pairs(read(), source, target, drop_empty, dropped), language, dropped

    split = cached_split(f"{key}|{source}|{target}|{language}|{drop_empty}", build)
    dropped = json.loads(Path(split.cache_files[0]["filename"]).with_suffix(".json").read_text())
    if dropped["dropped"]:
        where = f"an empty {source} or {target} (first: {dropped['first']})"
        rank_zero_warn(f"dropped {dropped['dropped']} examples with {where}")
    return split
