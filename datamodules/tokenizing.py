"""Tokenizing with `Dataset.map`, cached on disk by a fingerprint of everything that decides the ids.

Evaluation splits are tokenized whole. A training split is tokenized in the order of its nested subset, in
chunks that double in size (1024, 1024, 2048, 4096, ... examples) up to MAX_CHUNK: a run tokenizes at most about
twice its `train_size` (not the whole split: at ~2-3K examples/s per core, 1M pairs would take minutes for a run
that trains on 100K), and the points of a sweep that share a subset seed share every chunk their subsets share.
"""

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.progress import progress_bars

CACHE_VERSION = "tokenized-v2"  # bump when the layout of [bos] + source + target + [eos] changes
TOKENIZER_FILES = ("tokenizer", "special_tokens_map", "vocab", "merges", "added_tokens", "spiece")
# Below this many examples per process, starting processes costs more than it saves (benchmarks/data_scale.py).
PARALLEL_MIN_ROWS = 50_000
FIRST_CHUNK = 1024
# Chunks stop doubling here: a chunk's examples are gathered in memory before tokenizing (`splits.gather`).
MAX_CHUNK = 2**17
# Examples gathered in one pass over a split (~250 MB of WMT-length pairs); larger runs take more passes.
GATHER_ROWS = 2**19
FEATURES = datasets.Features(
    {
        "target": datasets.Value("string"),
        "language": datasets.Value("string"),
        "input_ids": datasets.List(datasets.Value("int32")),
        "source_length": datasets.Value("int32"),
        "cut_source": datasets.Value("bool"),
        "cut_target": datasets.Value("bool"),
    }
)


def tokenizer_fingerprint(name: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """Content hash of a tokenizer: its files for a local directory, else its serialised fast tokenizer."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    directory = Path(name)
    files = sorted(p for p in directory.iterdir() if p.name.startswith(TOKENIZER_FILES)) if directory.is_dir() else []
    if files:
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    elif tokenizer.is_fast:
        digest.update(tokenizer.backend_tokenizer.to_str().encode())
    else:
        digest.update(name.encode())
    digest.update(f"{tokenizer.bos_token_id}|{tokenizer.eos_token_id}".encode())
    return digest.hexdigest()


def chunk_bounds(size: int, total: int) -> list[tuple[int, int]]:
    """[start, end) of the chunks that cover the first `size` of `total` examples (the last one cut at `total`)."""
    bounds, start, end = [], 0, FIRST_CHUNK
    while start < size:
        bounds.append((start, min(end, total)))
        start, end = end, end + min(end, MAX_CHUNK)
    return bounds


def gather_groups(bounds: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Consecutive chunks in groups of at most GATHER_ROWS examples (or a single chunk), one pass over the split
    each."""
    groups: list[list[tuple[int, int]]] = []
    for start, end in bounds:
        if groups and sum(e - s for s, e in groups[-1]) + end - start <= GATHER_ROWS:
            groups[-1].append((start, end))
        else:
            groups.append([(start, end)])
    return groups


def processes(rows: int, requested: int | None) -> int:
    """Processes that tokenize a split of `rows` examples: `requested`, else as many of the available cores as
    get PARALLEL_MIN_ROWS examples each (1 for a small split)."""
    if requested is not None:
        return requested
    return max(1, min(len(os.sched_getaffinity(0)), rows // PARALLEL_MIN_ROWS))


def fingerprint(*parts: object) -> str:
    """The cache key of a tokenized split: a hash of the cache version and `parts`."""
    return hashlib.sha256(repr((CACHE_VERSION, *parts)).encode()).hexdigest()[:32]


def tokenize_split(
    split: datasets.Dataset, encode: Callable[[dict, list[int]], dict], key: str, num_proc: int
) -> datasets.Dataset:
    """`encode(batch, positions)` over a split (batched, `num_proc` processes), or its cache of `key`; the result
    keeps the `target` and `language` columns, for the batches' references and languages."""
    environ = os.environ
    with progress_bars(len(split)), _keeping_environ(environ):
        tokenized = split.map(
            encode,
            batched=True,
            with_indices=True,
            remove_columns=["source"],
            features=FEATURES,
            new_fingerprint=key,
            cache_file_name=str(cache_dir("tokenized") / f"{key}.arrow"),
            num_proc=num_proc if num_proc > 1 else None,
            desc="tokenizing",
        )
    # The files `map` wrote (one per process), named for `cached_tokens`, which needs no input split to find them.
    manifest = cache_dir("tokenized") / f"{key}.json"
    tmp = manifest.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([Path(f["filename"]).name for f in tokenized.cache_files]))
    tmp.replace(manifest)
    return tokenized


@contextlib.contextmanager
def _keeping_environ(environ: os._Environ) -> Iterator[None]:
    # `map(num_proc > 1)` of datasets 5.2 rebinds `os.environ` to a copy of itself; whoever holds the original object
    # (a monkeypatch, a library) would write to an environment no longer the process's. Keep the one object.
    try:
        yield
    finally:
        if os.environ is not environ:
            current = dict(os.environ)
            for name in [name for name in environ if name not in current]:
                del environ[name]
            environ.update(current)
            os.environ = environ  # noqa: B003 (the same object back, already holding the current values)


def cached_tokens(key: str) -> datasets.Dataset | None:
    """What `tokenize_split` stored under `key`, or None if it has not finished."""
    manifest = cache_dir("tokenized") / f"{key}.json"
    if not manifest.is_file():
        return None
    files = [manifest.with_name(name) for name in json.loads(manifest.read_text())]
    if not all(path.is_file() for path in files):  # a cache pruned by hand
        return None
    return datasets.concatenate_datasets([datasets.Dataset.from_file(str(path)) for path in files])
