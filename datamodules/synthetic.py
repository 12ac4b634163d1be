"""Finetuning tasks of the embedded world: translation and multilingual summarisation."""

from collections.abc import Iterator
from functools import lru_cache, partial

import datasets
import pyarrow as pa

from ftscale.datamodules import templates
from ftscale.datamodules.finetune import FinetuneDataModule
from ftscale.datamodules.sources import Dropped
from ftscale.datamodules.splits import cached_split
from ftscale.datamodules.world import GENERATOR_VERSION, Example, World
from ftscale.datamodules.world.languages import LANGUAGES, check_language
from ftscale.errors import InputError


@lru_cache(maxsize=4)
def _world(seed: int) -> World:
    return World(seed)  # its lexicons take a moment to build, and every split of a task shares them


def _pairs(examples: list[Example], language: str) -> tuple[Iterator[pa.Table], str, Dropped]:
    """Generated examples as the one block of a split (the world never makes an empty side)."""
    table = pa.table({"source": [e.source for e in examples], "target": [e.target for e in examples]})
    return iter([table]), language, Dropped()


def _check_codes(argument: str, codes: list[str]) -> None:
    """Name the offending argument in the error, so a bad config is easy to fix."""
    for code in codes:
        try:
            check_language(code)
        except ValueError as error:
            raise InputError(f"data.{argument}: {error}") from None


def _check_sizes(**sizes: int) -> dict[str, int]:
    for name, size in sizes.items():
        if size < 1:
            raise InputError(f"data.{name}={size} must be at least 1")
    return {"train": sizes["pool_size"], "validation": sizes["val_size"], "test": sizes["test_size"]}


class SyntheticTranslation(FinetuneDataModule):
    """Sentence translation between two languages of the embedded world.

    Args:
        tokenizer: Hugging Face tokenizer path or hub id (usually the backbone's).
        world_seed: Seed of the embedded world (its word forms and sentences).
        source_lang: Code of the language translated from.
        target_lang: Code of the language translated into.
        pool_size: Size of the training split that `train_size` subsets are drawn from.
        val_size: Size of the validation split.
        test_size: Size of the test split.
        **kwargs: The shared options of `FinetuneDataModule` (train_size, subset_seed, batch_size, ...).
    """

    def __init__(
        self,
        tokenizer: str,
        world_seed: int = 0,
        source_lang: str = "ve",
        target_lang: str = "ka",
        pool_size: int = 20000,
        val_size: int = 500,
        test_size: int = 500,
        **kwargs,
    ) -> None:
        super().__init__(tokenizer, **kwargs)
        _check_codes("source_lang", [source_lang])
        _check_codes("target_lang", [target_lang])
        if source_lang == target_lang:
            raise InputError(f"data.source_lang and data.target_lang are both {source_lang!r}; pick two languages")
        self.world_seed = world_seed
        self.source_lang = source_lang
        self.target_lang = target_lang
        self.split_sizes = _check_sizes(pool_size=pool_size, val_size=val_size, test_size=test_size)

    def load_split(self, split: str) -> datasets.Dataset:
        n, pair = self.split_sizes[split], (self.source_lang, self.target_lang)
        key = f"world|{GENERATOR_VERSION}|{self.world_seed}|translation|{'-'.join(pair)}|{split}|{n}"
        return cached_split(key, lambda: _pairs(_world(self.world_seed).translation(*pair, split, n), pair[1]))

    def render_source(self, example: Example) -> str:
        return templates.TRANSLATION.format(
            source_language=LANGUAGES[self.source_lang].name,
            target_language=LANGUAGES[self.target_lang].name,
            source=example.source,
        )


class SyntheticSummarization(FinetuneDataModule):
    """Multilingual document summarisation in the embedded world (the summary is in the document's language).

    Args:
        tokenizer: Hugging Face tokenizer path or hub id (usually the backbone's).
        world_seed: Seed of the embedded world (its word forms and documents).
        languages: Codes of the document languages; None uses every language. Splits are divided evenly.
        pool_size: Size of the training split that `train_size` subsets are drawn from.
        val_size: Size of the validation split.
        test_size: Size of the test split.
        **kwargs: The shared options of `FinetuneDataModule` (train_size, subset_seed, batch_size, ...).
    """

    def __init__(
        self,
        tokenizer: str,
        world_seed: int = 0,
        languages: list[str] | None = None,
        pool_size: int = 20000,
        val_size: int = 500,
        test_size: int = 500,
        **kwargs,
    ) -> None:
        super().__init__(tokenizer, **kwargs)
        languages = list(LANGUAGES) if languages is None else list(languages)
        if not languages:
            raise InputError(f"data.languages is empty; valid codes: {', '.join(LANGUAGES)}")
        _check_codes("languages", languages)
        if len(set(languages)) < len(languages):
            raise InputError(f"data.languages {languages} repeats a language")
        self.world_seed = world_seed
        self.languages = languages
        self.split_sizes = _check_sizes(pool_size=pool_size, val_size=val_size, test_size=test_size)

    def load_split(self, split: str) -> datasets.Dataset:
        total, k = self.split_sizes[split], len(self.languages)
        parts = []
        for i, code in enumerate(self.languages):
            n = total // k + (i < total % k)
            key = f"world|{GENERATOR_VERSION}|{self.world_seed}|summarization|{code}|{split}|{n}"
            parts.append(cached_split(key, partial(self._generate, code, split, n)))
        return datasets.concatenate_datasets(parts)

    def _generate(self, language: str, split: str, n: int) -> tuple[Iterator[pa.Table], str, Dropped]:
        return _pairs(_world(self.world_seed).summarization(language, split, n), language)

    def render_source(self, example: Example) -> str:
        return templates.SUMMARIZATION.format(language=LANGUAGES[example.language].name, document=example.source)
