"""Splits as memory-mapped Arrow files of `source`, `target` and `language` columns, written once per content key.

A task's split is checked and written on first use (`$FTSCALE_CACHE/splits/<key>.arrow`, a block of rows at a
time); later runs map the file, so a run holds no Python list of its examples and a warm run skips reading and
checking the raw data. `<key>.json` beside it keeps the count of examples dropped for an empty side.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import datasets
import pyarrow as pa
from lightning.pytorch.utilities import rank_zero_warn

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.sources import Dropped, Located, text_pairs

SPLIT_VERSION = "split-v2"  # bump when the columns or the checks change
SCHEMA = pa.schema([(name, pa.string()) for name in ("source", "target", "language")])


def cached_split(key: str, build: Callable[[], tuple[Iterator[pa.Table], str, Dropped]]) -> datasets.Dataset:
    """The split stored under `key`; on a miss, `build()` gives its blocks of checked pairs, their language and what
    was dropped, and they are written."""
    digest = hashlib.sha256(f"{SPLIT_VERSION}|{key}".encode()).hexdigest()[:32]
    path = cache_dir("splits") / f"{digest}.arrow"
    if not path.is_file():
        blocks, language, dropped = build()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
            for block in blocks:
                writer.write_table(block.append_column("language", pa.repeat(language, len(block))))
        path.with_suffix(".json").write_text(json.dumps({"dropped": dropped.count, "first": dropped.first}))
        tmp.replace(path)  # atomic, and last: a concurrent reader sees the whole split or none
    return datasets.Dataset.from_file(str(path))


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
