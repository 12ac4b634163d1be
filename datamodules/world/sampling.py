"""Seeded random streams, Zipfian meaning sampling, and the content hash that assigns meanings to splits."""

import zlib

import numpy as np

from ftscale.datamodules.world.grammar import (
    ADVERB,
    NUM_FIELDS,
    OBJECT,
    OBJECT_ADJ,
    OBJECT_PLURAL,
    PLACE,
    SUBJECT,
    SUBJECT_ADJ,
    SUBJECT_PLURAL,
    TENSE,
    VERB,
)
from ftscale.datamodules.world.lexicon import NUM_CONCEPTS, zipf_weights

# Splits own disjoint ranges of a meaning's hash bucket (0..99), so no meaning is in two splits.
SPLIT_BUCKETS = {"train": (0, 90), "validation": (90, 95), "test": (95, 100)}
NUM_BUCKETS = 100

_CDF = {kind: np.cumsum(zipf_weights(n)) for kind, n in NUM_CONCEPTS.items()}


def check_split(split: str) -> str:
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLIT_BUCKETS)}")
    return split


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for (seed, keys): changing any key gives unrelated numbers."""
    entropy = [seed] + [zlib.crc32(k.encode()) if isinstance(k, str) else k for k in keys]
    return np.random.default_rng(entropy)


def zipf(rng: np.random.Generator, kind: str, size: int | tuple[int, ...]) -> np.ndarray:
    """Concept ids of one kind, drawn by Zipfian frequency (id = frequency rank)."""
    cdf = _CDF[kind]
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1]), len(cdf) - 1)


def optional(rng: np.random.Generator, ids: np.ndarray, probability: float) -> np.ndarray:
    """`ids` where a coin with this probability lands heads, else -1 (absent)."""
    return np.where(rng.random(len(ids)) < probability, ids, -1)


def sample_meanings(rng: np.random.Generator, n: int) -> np.ndarray:
    """n meaning rows [n, NUM_FIELDS] with Zipfian concepts and random grammatical features."""
    rows = np.empty((n, NUM_FIELDS), dtype=np.int64)
    rows[:, SUBJECT] = zipf(rng, "noun", n)
    rows[:, SUBJECT_ADJ] = optional(rng, zipf(rng, "adjective", n), 0.4)
    rows[:, SUBJECT_PLURAL] = rng.random(n) < 0.3
    rows[:, VERB] = zipf(rng, "verb", n)
    rows[:, TENSE] = rng.integers(0, 3, n)
    rows[:, OBJECT] = optional(rng, zipf(rng, "noun", n), 0.8)
    rows[:, OBJECT_ADJ] = np.where(rows[:, OBJECT] >= 0, optional(rng, zipf(rng, "adjective", n), 0.4), -1)
    rows[:, OBJECT_PLURAL] = (rows[:, OBJECT] >= 0) & (rng.random(n) < 0.3)
    rows[:, ADVERB] = optional(rng, zipf(rng, "adverb", n), 0.2)
    rows[:, PLACE] = optional(rng, zipf(rng, "noun", n), 0.3)
    return rows


def mix64(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser: spreads every input bit over the whole word.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def row_hash(rows: np.ndarray) -> np.ndarray:
    """A 64-bit content hash per meaning row (independent of the world seed and the language)."""
    h = np.zeros(len(rows), dtype=np.uint64)
    for column in range(rows.shape[1]):
        h = mix64(h ^ (rows[:, column].astype(np.uint64) + np.uint64(column + 1)))
    return h


def in_split(hashes: np.ndarray, split: str) -> np.ndarray:
    """Mask of the hashes whose bucket belongs to `split`."""
    low, high = SPLIT_BUCKETS[check_split(split)]
    bucket = hashes % np.uint64(NUM_BUCKETS)
    return (bucket >= low) & (bucket < high)
