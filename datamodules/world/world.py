"""`World`: the seeded synthetic multilingual world that finetuning tasks and the pretraining corpus come from."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ftscale.datamodules.world.documents import document_hashes, render_document, sample_documents, summarize
from ftscale.datamodules.world.grammar import NUM_FIELDS, render
from ftscale.datamodules.world.languages import LANGUAGES, check_language
from ftscale.datamodules.world.lexicon import Lexicon
from ftscale.datamodules.world.pretraining import pretraining_text
from ftscale.datamodules.world.sampling import (
    NUM_BUCKETS,
    SPLIT_BUCKETS,
    check_split,
    in_split,
    row_hash,
    sample_meanings,
    stream,
)

# Bump when generation changes: cache keys (tokenizer, corpora) include it.
GENERATOR_VERSION = "world-v1"
# Candidates are drawn in fixed chunks, so a split of n examples is a prefix of the same split of m > n.
SENTENCE_CHUNK = 4096
DOCUMENT_CHUNK = 512


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"cannot generate {n} examples")


@dataclass(frozen=True)
class Example:
    """One finetuning example; `language` is the target's (or document's) language code."""

    source: str
    target: str
    language: str


class World:
    """A seeded world of languages; the same seed gives the same bytes.

    Splits are disjoint by content: a meaning (or a document) belongs to exactly one split, chosen by
    its hash, in every language.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.languages: tuple[str, ...] = tuple(LANGUAGES)
        self.lexicons = {code: Lexicon.generate(lang, seed) for code, lang in LANGUAGES.items()}

    def name(self, code: str) -> str:
        """Display name of a language (as used in prompts)."""
        return check_language(code).name

    def sentences(self, split: str, n: int) -> np.ndarray:
        """The first n meaning rows of a split."""
        _check_count(n)
        check_split(split)
        chunks, count, index = [], 0, 0
        while count < n:
            rows = sample_meanings(stream(self.seed, "sentences", split, index), SENTENCE_CHUNK)
            rows = rows[in_split(row_hash(rows), split)]
            chunks.append(rows)
            count, index = count + len(rows), index + 1
        return np.concatenate(chunks)[:n] if chunks else np.empty((0, NUM_FIELDS), dtype=np.int64)

    def documents(self, language: str, split: str, n: int) -> list[np.ndarray]:
        """The first n documents (arrays of meaning rows) of a split in one language."""
        _check_count(n)
        check_language(language)
        low, high = SPLIT_BUCKETS[check_split(split)]
        docs: list[np.ndarray] = []
        index = 0
        while len(docs) < n:
            rng = stream(self.seed, "documents", language, split, index)
            chunk = sample_documents(rng, DOCUMENT_CHUNK)
            buckets = document_hashes(chunk) % np.uint64(NUM_BUCKETS)
            docs += [doc for doc, bucket in zip(chunk, buckets.tolist(), strict=True) if low <= bucket < high]
            index += 1
        return docs[:n]

    def translation(self, source_lang: str, target_lang: str, split: str, n: int) -> list[Example]:
        """n sentence pairs; the meanings are shared by every language pair (a multi-parallel corpus)."""
        source = self.lexicons[check_language(source_lang).code]
        target = self.lexicons[check_language(target_lang).code]
        rows = self.sentences(split, n).tolist()
        return [Example(render(source, row), render(target, row), target_lang) for row in rows]

    def summarization(self, language: str, split: str, n: int) -> list[Example]:
        """n (document, summary) pairs in one language."""
        lex = self.lexicons[check_language(language).code]
        examples = []
        for doc in self.documents(language, split, n):
            rows = doc.tolist()
            examples.append(Example(render_document(lex, rows), summarize(lex, rows), language))
        return examples

    def pretraining_documents(self, num_words: int, split: str = "train") -> Iterator[str]:
        """Pretraining documents until `num_words` words; `split="validation"` is an independent held-out stream."""
        lexicons = [self.lexicons[code] for code in self.languages]
        return pretraining_text(lexicons, self.seed, check_split(split), num_words)
