"""Meanings (language-independent sentence frames) and how each language says them.

A meaning is one row of ints: who does what to whom, with which modifiers. Translation renders the same
row in two languages, so the mapping between them is exact but not word-by-word.
"""

from ftscale.datamodules.world.lexicon import Lexicon

# Columns of a meaning row; -1 marks an absent optional part.
SUBJECT, SUBJECT_ADJ, SUBJECT_PLURAL, VERB, TENSE, OBJECT, OBJECT_ADJ, OBJECT_PLURAL, ADVERB, PLACE = range(10)
NUM_FIELDS = 10


def _noun_phrase(lex: Lexicon, noun: int, adj: int, plural: int, case: int) -> list[str]:
    words = [lex.nouns[noun][plural][case]]
    if adj >= 0:
        adjective = lex.adjectives[adj][plural]
        words = [adjective, *words] if lex.language.adjective_first else [*words, adjective]
    return words


def render(lex: Lexicon, row: tuple[int, ...] | list[int]) -> str:
    """The sentence for one meaning row in the lexicon's language."""
    lang = lex.language
    subject = _noun_phrase(lex, row[SUBJECT], row[SUBJECT_ADJ], row[SUBJECT_PLURAL], 0)
    verb = [lex.verbs[row[VERB]][row[TENSE]][row[SUBJECT_PLURAL]]]
    obj = _noun_phrase(lex, row[OBJECT], row[OBJECT_ADJ], row[OBJECT_PLURAL], 1) if row[OBJECT] >= 0 else []
    adverb = [lex.adverbs[row[ADVERB]]] if row[ADVERB] >= 0 else []
    place = []
    if row[PLACE] >= 0:
        noun = lex.nouns[row[PLACE]][0][0]
        place = [lang.adposition, noun] if lang.preposition else [noun, lang.adposition]
    if lang.order == "SVO":
        words = subject + verb + adverb + obj + place
    elif lang.order == "SOV":
        words = subject + obj + place + adverb + verb
    else:  # VSO
        words = verb + adverb + subject + obj + place
    return " ".join(words) + "."


def gist(row: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """The meaning with its modifiers (adjectives, adverb, place) dropped: what a summary keeps."""
    row = list(row)
    row[SUBJECT_ADJ] = row[OBJECT_ADJ] = row[ADVERB] = row[PLACE] = -1
    return tuple(row)
