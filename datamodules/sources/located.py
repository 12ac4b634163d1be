"""`Located`: the records of one data file or dataset split, a block of rows at a time, and how to name a row."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Located:
    """Raw records as Arrow tables, one block of rows at a time (`blocks()`: a large file is never in memory at
    once), a content `fingerprint`, and `origin(i)`: where row i of the whole (`data/train.jsonl line 3`) was read,
    computed only when a message needs it."""

    blocks: Callable[[], Iterator[pa.Table]]
    fingerprint: str
    origin: Callable[[int], str]


def table_blocks(table: pa.Table) -> Callable[[], Iterator[pa.Table]]:
    """The blocks of a table already at hand (in memory, or a memory-mapped slice)."""
    return lambda: (pa.Table.from_batches([batch]) for batch in table.to_batches())


def file_blocks(paths: list[str]) -> Callable[[], Iterator[pa.Table]]:
    """The record batches of Arrow stream files (`datasets`' cache), read, not memory-mapped: the pages of a
    checked block are freed, so memory stays about one block whatever the files' size."""

    def blocks() -> Iterator[pa.Table]:
        for path in paths:
            with pa.OSFile(path) as source:
                yield from (pa.Table.from_batches([batch]) for batch in pa.ipc.open_stream(source))

    return blocks
