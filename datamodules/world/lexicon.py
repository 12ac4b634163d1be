"""The shared concept inventory, its Zipfian frequencies, and each language's word forms for it."""

import itertools
import random
from dataclasses import dataclass

import numpy as np

from ftscale.datamodules.world.languages import Language

# A few thousand concepts: enough that rare words keep turning up as the data grows.
NUM_CONCEPTS = {"noun": 2000, "verb": 600, "adjective": 400, "adverb": 150}
ZIPF_EXPONENT = 1.1


def zipf_weights(n: int, exponent: float = ZIPF_EXPONENT) -> np.ndarray:
    """Probabilities of ranks 1..n under Zipf's law p(r) ~ r^-exponent."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _syllables_for(rank: int, rng: random.Random) -> int:
    # Frequent concepts get short words (Zipf's law of abbreviation), as in natural languages.
    base = 1 if rank < 20 else 2 if rank < 400 else 3
    return base + int(rng.random() < 0.2)


def _stems(lang: Language, rng: random.Random) -> dict[str, list[str]]:
    """Distinct stems for every concept, built from the language's syllable inventory."""
    used = {lang.adposition}
    stems: dict[str, list[str]] = {}
    for kind, count in NUM_CONCEPTS.items():
        stems[kind] = []
        for rank in range(count):
            length = _syllables_for(rank, rng)
            for attempt in itertools.count():
                # Few short forms exist: after some collisions, lengthen the word.
                syllables = length + attempt // 20
                stem = "".join(
                    rng.choice(lang.onsets)
                    + rng.choice(lang.vowels)
                    + (rng.choice(lang.codas) if rng.random() < 0.3 else "")
                    for _ in range(syllables)
                )
                if stem not in used:
                    break
            used.add(stem)
            stems[kind].append(stem)
    return stems


@dataclass(frozen=True)
class Lexicon:
    """All inflected forms of one language, indexed by concept id."""

    language: Language
    nouns: tuple[tuple[tuple[str, str], ...], ...]  # [noun][plural][object case]
    adjectives: tuple[tuple[str, str], ...]  # [adjective][plural]
    verbs: tuple[tuple[tuple[str, str], ...], ...]  # [verb][tense][plural subject]
    adverbs: tuple[str, ...]

    @classmethod
    def generate(cls, lang: Language, seed: int) -> "Lexicon":
        """The lexicon of `lang` in the world with this seed."""
        # random.Random seeded with a string is deterministic across platforms and fast for scalar draws.
        stems = _stems(lang, random.Random(f"ftscale-world-{seed}-{lang.code}"))

        def noun(stem: str, plural: int, case: int) -> str:
            if plural:
                stem = lang.plural_prefix + stem + lang.plural_suffix
            return stem + lang.object_case if case else stem

        return cls(
            language=lang,
            nouns=tuple(tuple((noun(s, p, 0), noun(s, p, 1)) for p in (0, 1)) for s in stems["noun"]),
            adjectives=tuple((s, s + lang.adjective_plural) for s in stems["adjective"]),
            verbs=tuple(
                tuple((s + suffix, s + suffix + lang.verb_plural) for suffix in lang.tenses) for s in stems["verb"]
            ),
            adverbs=tuple(stems["adverb"]),
        )
