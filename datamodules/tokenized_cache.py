"""Tokenized splits cached on disk, keyed by everything that decides their token ids.

The key hashes the rendered prompts and targets themselves, so the template, the data (file or hub
dataset), the subset's indices and k-shot demonstrations are all part of it without trusting file times.
"""

import hashlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from ftscale.datamodules.cache import cache_dir

CACHE_VERSION = "tokenized-v1"  # bump when the layout of [bos] + source + target + [eos] changes
TOKENIZER_FILES = ("tokenizer", "special_tokens_map", "vocab", "merges", "added_tokens", "spiece")


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


def cache_key(tokenizer: str, limits: Sequence[int | bool], prompts: Sequence[str], targets: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}|{tokenizer}|{list(limits)}".encode())
    for prompt, target in zip(prompts, targets, strict=True):
        digest.update(prompt.encode() + b"\0" + target.encode() + b"\0")
    return digest.hexdigest()[:32]


def cache_path(key: str) -> Path:
    return cache_dir("tokenized") / f"{key}.npz"


def load_tokenized(key: str) -> tuple[list[list[int]], list[int], tuple[int, int]] | None:
    """(ids, source lengths, (sources cut, targets cut)) of a cached split, or None when it is not cached."""
    path = cache_path(key)
    if not path.is_file():
        return None
    with np.load(path) as arrays:
        flat, offsets = arrays["ids"].tolist(), arrays["offsets"].tolist()
        ids = [flat[start:end] for start, end in itertools.pairwise(offsets)]
        cut_source, cut_target = arrays["truncated"].tolist()
        return ids, arrays["source_lengths"].tolist(), (cut_source, cut_target)


def save_tokenized(key: str, ids: list[list[int]], source_lengths: list[int], truncated: tuple[int, int]) -> None:
    path = cache_path(key)
    offsets = np.cumsum([0, *map(len, ids)])
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        ids=np.fromiter((t for row in ids for t in row), dtype=np.int64, count=int(offsets[-1])),
        offsets=offsets,
        source_lengths=np.asarray(source_lengths, dtype=np.int64),
        truncated=np.asarray(truncated, dtype=np.int64),
    )
    tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
