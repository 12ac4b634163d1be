"""Multi-sentence documents about a few entities, and their deterministic summaries."""

from collections import Counter

import numpy as np

from ftscale.datamodules.world.grammar import OBJECT, SUBJECT, gist, render
from ftscale.datamodules.world.lexicon import Lexicon
from ftscale.datamodules.world.sampling import mix64, row_hash, sample_meanings, zipf

MIN_SENTENCES, MAX_SENTENCES = 3, 8
NUM_ENTITIES = 3
# How often each of a document's entities is the subject: one usually dominates, as in a news story.
ENTITY_WEIGHTS = np.array([0.5, 0.3, 0.2])


def sample_documents(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """n documents, each an array of meaning rows whose subjects (and some objects) are its entities."""
    lengths = rng.integers(MIN_SENTENCES, MAX_SENTENCES + 1, n)
    rows = sample_meanings(rng, int(lengths.sum()))
    doc = np.repeat(np.arange(n), lengths)
    entities = zipf(rng, "noun", (n, NUM_ENTITIES))
    rows[:, SUBJECT] = entities[doc, rng.choice(NUM_ENTITIES, len(rows), p=ENTITY_WEIGHTS)]
    about = (rows[:, OBJECT] >= 0) & (rng.random(len(rows)) < 0.3)
    rows[about, OBJECT] = entities[doc[about], rng.integers(0, NUM_ENTITIES, int(about.sum()))]
    return np.split(rows, np.cumsum(lengths)[:-1])


def document_hashes(docs: list[np.ndarray]) -> np.ndarray:
    """A 64-bit content hash per document (sensitive to sentence order)."""
    lengths = np.array([len(d) for d in docs])
    starts = np.cumsum(lengths) - lengths
    position = np.arange(lengths.sum(), dtype=np.uint64) - np.repeat(starts, lengths).astype(np.uint64)
    return np.bitwise_xor.reduceat(mix64(row_hash(np.concatenate(docs)) ^ position), starts)


def main_subject(rows: list[tuple[int, ...]]) -> int:
    """The most frequent subject; ties go to the one mentioned first."""
    # most_common orders equal counts by first occurrence.
    return Counter(row[SUBJECT] for row in rows).most_common(1)[0][0]


def render_document(lex: Lexicon, rows: list[tuple[int, ...]]) -> str:
    return " ".join(render(lex, row) for row in rows)


def summarize(lex: Lexicon, rows: list[tuple[int, ...]]) -> str:
    """The summary: the gist (no adjectives, adverbs or places) of every sentence about the main subject."""
    subject = main_subject(rows)
    return " ".join(render(lex, gist(row)) for row in rows if row[SUBJECT] == subject)
