"""The pretraining corpus: mostly monolingual documents in every language, some parallel text, and a few
texts with the task prompts (so the tokenizer and the pretrained models know their words)."""

from collections.abc import Iterator

import numpy as np

from ftscale.datamodules import templates
from ftscale.datamodules.world.documents import render_document, sample_documents
from ftscale.datamodules.world.grammar import render
from ftscale.datamodules.world.lexicon import Lexicon
from ftscale.datamodules.world.sampling import in_split, row_hash, sample_meanings, stream

DOCS_PER_CHUNK = 256
# Shares of document kinds: monolingual, parallel sentence pairs, task prompts.
KIND_WEIGHTS = (0.85, 0.12, 0.03)
MAX_PAIRS = 6


def _in_train(rows: np.ndarray) -> np.ndarray:
    # Only meanings of the finetuning train split: pretraining never sees a validation or test sentence.
    return in_split(row_hash(rows), "train")


def _parallel(lexicons: list[Lexicon], rows: np.ndarray) -> str:
    a, b = lexicons
    return "\n".join(
        f"{a.language.name}: {render(a, row)}\n{b.language.name}: {render(b, row)}" for row in rows.tolist()
    )


def _prompt(lexicons: list[Lexicon], row: list[int], doc: np.ndarray, translate: bool) -> str:
    a, b = lexicons
    if translate:
        names = {"source_language": a.language.name, "target_language": b.language.name}
        return templates.TRANSLATION.format(**names, source=render(a, row)) + render(b, row)
    return templates.SUMMARIZATION.format(language=a.language.name, document=render_document(a, doc.tolist()))


def pretraining_text(lexicons: list[Lexicon], seed: int, split: str, num_words: int) -> Iterator[str]:
    """Documents until `num_words` words are produced; `split` picks an independent stream."""
    words, chunk = 0, 0
    while words < num_words:
        rng = stream(seed, "pretraining", split, chunk)
        docs = sample_documents(rng, DOCS_PER_CHUNK)
        keep = np.split(_in_train(np.concatenate(docs)), np.cumsum([len(d) for d in docs])[:-1])
        kinds = rng.choice(len(KIND_WEIGHTS), DOCS_PER_CHUNK, p=KIND_WEIGHTS)
        pairs = rng.integers(1, MAX_PAIRS + 1, DOCS_PER_CHUNK)
        pool = sample_meanings(rng, int(pairs.sum()) * 2)
        pool = pool[_in_train(pool)]
        used = 0
        for i, doc in enumerate(docs):
            # Two distinct languages: the document's, and a partner for parallel text.
            first, second = rng.choice(len(lexicons), 2, replace=False)
            pair = [lexicons[first], lexicons[second]]
            doc = doc[keep[i]]
            if kinds[i] == 0 and len(doc):
                text = render_document(pair[0], doc.tolist())
            elif kinds[i] == 1 and used < len(pool):
                text = _parallel(pair, pool[used : used + pairs[i]])
                used += pairs[i]
            elif kinds[i] == 2 and used < len(pool) and len(doc):
                text = _prompt(pair, pool[used].tolist(), doc, translate=bool(rng.random() < 0.5))
                used += 1
            else:
                continue
            words += len(text.split())
            yield text
            if words >= num_words:
                return
        chunk += 1
