"""The world's languages: phonology (for word forms), word order and morphology.

Grammar is fixed; only the word forms depend on the world seed. The languages differ in every way a
translator has to learn beyond word substitution: constituent order, adjective position, plural marking
(suffix or prefix), adjective agreement, tense and subject agreement on the verb, object case and
prepositions versus postpositions.
"""

from dataclasses import dataclass

from ftscale.errors import InputError


@dataclass(frozen=True)
class Language:
    """One synthetic language."""

    code: str
    name: str  # display name, used in prompts
    order: str  # order of subject, verb and object: "SVO", "SOV" or "VSO"
    adjective_first: bool  # adjective before (True) or after the noun
    onsets: tuple[str, ...]
    vowels: tuple[str, ...]
    codas: tuple[str, ...]
    plural_prefix: str
    plural_suffix: str
    adjective_plural: str  # agreement suffix on adjectives of plural nouns ("" = no agreement)
    tenses: tuple[str, str, str]  # verb suffixes: past, present, future
    verb_plural: str  # verb suffix agreeing with a plural subject
    object_case: str  # accusative suffix on the object noun
    adposition: str  # word marking a place ("in/at")
    preposition: bool  # adposition before (True) or after its noun phrase


# fmt: off
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language(
            code="ve", name="Veloran", order="SVO", adjective_first=False,
            onsets=("v", "l", "r", "s", "t", "n", "m", "d", "f"), vowels=("a", "e", "o", "i"),
            codas=("n", "r", "l"),
            plural_prefix="", plural_suffix="es", adjective_plural="",
            tenses=("ad", "", "or"), verb_plural="n", object_case="", adposition="pel", preposition=True,
        ),
        Language(
            code="ka", name="Kathuri", order="SOV", adjective_first=True,
            onsets=("k", "th", "r", "sh", "g", "d", "b", "h", "z"), vowels=("a", "u", "i", "aa"),
            codas=("k", "t", "sh"),
            plural_prefix="", plural_suffix="lar", adjective_plural="",
            tenses=("di", "ur", "acak"), verb_plural="ler", object_case="i", adposition="da", preposition=False,
        ),
        Language(
            code="mo", name="Morundi", order="VSO", adjective_first=False,
            onsets=("m", "n", "w", "p", "ng", "y", "b", "j", "c"), vowels=("o", "u", "a", "e"),
            codas=("m", "ng"),
            plural_prefix="ba", plural_suffix="", adjective_plural="bo",
            tenses=("ma", "", "wo"), verb_plural="", object_case="", adposition="ko", preposition=True,
        ),
        Language(
            code="ti", name="Tilvek", order="SVO", adjective_first=True,
            onsets=("t", "ts", "v", "p", "kr", "s", "l", "x", "q"), vowels=("i", "e", "y", "u"),
            codas=("k", "v", "x", "st"),
            plural_prefix="", plural_suffix="ek", adjective_plural="ek",
            tenses=("ev", "is", "ul"), verb_plural="et", object_case="t", adposition="zor", preposition=False,
        ),
    )
}
# fmt: on


def check_language(code: str) -> Language:
    """The language with this code, or a ValueError listing the valid codes."""
    if code not in LANGUAGES:
        names = ", ".join(f"{c} ({lang.name})" for c, lang in LANGUAGES.items())
        raise InputError(f"unknown language code {code!r}; valid codes: {names}")
    return LANGUAGES[code]
