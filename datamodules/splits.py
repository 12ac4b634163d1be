"""Splits as memory-mapped Arrow files of `source`, `target` and `language` columns, written once per content key.

A task's split is checked and written on first use (`$FTSCALE_CACHE/splits/<key>.arrow`); later runs map the file,
so a run holds no Python list of its examples and a warm run skips reading and checking the raw data.
"""

import hashlib
import os
from collections.abc import Callable, Iterator

import datasets
import pyarrow as pa
from lightning.pytorch.utilities import rank_zero_warn

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.sources import Located, Pairs, text_pairs

SPLIT_VERSION = "split-v1"  # bump when the columns or the checks change
COLUMNS = ("source", "target", "language")
BATCH_ROWS = 65_536  # rows per record batch: bounds the memory of writing a split


def _batches(pairs: Pairs, language: str) -> Iterator[pa.RecordBatch]:
    """The kept rows of `pairs`, with the language column, a batch at a time (never the whole split at once)."""
    for start in range(0, len(pairs.table), BATCH_ROWS):
        batch = pairs.table.slice(start, BATCH_ROWS)
        if pairs.keep is not None:
            batch = batch.filter(pairs.keep.slice(start, BATCH_ROWS))
        for part in batch.to_batches():
            yield pa.record_batch([*part.columns, pa.repeat(language, len(part))], names=list(COLUMNS))


def cached_split(key: str, build: Callable[[], tuple[Pairs, str]]) -> datasets.Dataset:
    """The split stored under `key`; on a miss, `build()` gives its checked pairs and language and it is written."""
    digest = hashlib.sha256(f"{SPLIT_VERSION}|{key}".encode()).hexdigest()[:32]
    path = cache_dir("splits") / f"{digest}.arrow"
    if not path.is_file():
        pairs, language = build()
        schema = pa.schema([(name, pa.string()) for name in COLUMNS])
        metadata = {"dropped": str(pairs.dropped), "first_dropped": pairs.first_dropped or ""}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema.with_metadata(metadata)) as writer:
            for batch in _batches(pairs, language):
                writer.write_batch(batch)
        tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
    return datasets.Dataset.from_file(str(path))


def checked_split(
    key: str, read: Callable[[], Located], source: str, target: str, language: str, drop_empty: bool
) -> datasets.Dataset:
    """The split of the records `read()` gives (read and checked only on a miss of content `key`), in `language`;
    pairs dropped for an empty side are counted in a warning on every load."""
    identity = f"{key}|{source}|{target}|{language}|{drop_empty}"
    split = cached_split(identity, lambda: (text_pairs(read(), source, target, drop_empty), language))
    # The counts live in the file's schema metadata (`datasets` rewrites the loaded schema's own).
    with pa.memory_map(split.cache_files[0]["filename"]) as source:
        metadata = pa.ipc.open_stream(source).schema.metadata or {}
    if dropped := int(metadata.get(b"dropped", b"0")):
        first = metadata[b"first_dropped"].decode()
        rank_zero_warn(f"dropped {dropped} examples with an empty {source} or {target} (first: {first})")
    return split
