"""`Translation`: sentence translation between any two languages, from a Hugging Face dataset or local files."""

from collections.abc import Callable
from pathlib import Path

import datasets

from ftscale.datamodules import templates
from ftscale.datamodules.finetune import FinetuneDataModule
from ftscale.datamodules.language_names import language_name
from ftscale.datamodules.sources import Located, file_key, read_file, read_hub, read_text_pair
from ftscale.datamodules.sources.choice import check_sources, split_file
from ftscale.datamodules.splits import checked_split
from ftscale.datamodules.world import Example
from ftscale.errors import InputError, MissingFileError


class Translation(FinetuneDataModule):
    """Translation of `source_lang` into `target_lang` (English into the other language by default, as in the paper).

    Data comes from `dataset`, a Hugging Face dataset of `{"translation": {lang: text}}` records (WMT's schema)
    read by `datasets.load_dataset(dataset, dataset_config, split=...)`, or from local `data_files`, one per
    split, by suffix:

    - `.jsonl`, `.parquet` or `.arrow`: records in WMT's schema;
    - `.tsv`: two columns, no header, the `source_lang` text then the `target_lang` text;
    - any other path P: aligned plain-text files `P.<source_lang>` and `P.<target_lang>`, one sentence per line.

    Args:
        tokenizer: Hugging Face tokenizer path or hub id (usually the backbone's).
        source_lang: Code of the language translated from (names common codes in the prompt, e.g. en → English).
        target_lang: Code of the language translated into.
        dataset: Hugging Face dataset id, or a local directory laid out like one.
        dataset_config: The dataset's config (WMT: the pair, e.g. `de-en`).
        splits: The dataset split read for each of ours, e.g. `{test: "validation[50%:]"}`; unnamed ones
            read the split of the same name.
        data_files: Local files instead of a dataset: {"train": path, "validation": path, "test": path}.
        drop_empty: Drop pairs with an empty side (counted in a warning) instead of failing on them.
        **kwargs: The shared options of `FinetuneDataModule` (train_size, subset_seed, batch_size, ...).
    """

    def __init__(
        self,
        tokenizer: str,
        source_lang: str = "en",
        target_lang: str = "de",
        dataset: str | None = None,
        dataset_config: str | None = None,
        splits: dict[str, str] | None = None,
        data_files: dict[str, str] | None = None,
        drop_empty: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(tokenizer, **kwargs)
        if not source_lang or not target_lang or source_lang == target_lang:
            raise InputError(
                f"data.source_lang={source_lang!r} and data.target_lang={target_lang!r}: expected two different codes"
            )
        self.source_lang = source_lang
        self.target_lang = target_lang
        self.dataset_name = dataset
        self.dataset_config = dataset_config
        self.splits = check_sources(dataset, data_files, splits)
        self.data_files = data_files
        self.drop_empty = drop_empty

    def _split(self, key: str, read: Callable[[], Located], source: str, target: str) -> datasets.Dataset:
        return checked_split(key, read, source, target, self.target_lang, self.drop_empty)

    def load_split(self, split: str) -> datasets.Dataset:
        source, target = f"translation.{self.source_lang}", f"translation.{self.target_lang}"
        if self.dataset_name is not None:
            located = read_hub(self.dataset_name, self.dataset_config, self.splits[split])
            return self._split(located.fingerprint, lambda: located, source, target)
        path = split_file(self.data_files, split)
        suffix = Path(path).suffix
        if suffix in (".jsonl", ".parquet", ".arrow"):
            return self._split(file_key(path), lambda: read_file(path), source, target)
        if suffix == ".tsv":
            return self._split(file_key(path), lambda: read_file(path), "source", "target")
        pair = f"{path}.{self.source_lang}", f"{path}.{self.target_lang}"
        if not all(Path(p).is_file() for p in pair):
            raise MissingFileError(
                f"data file {path!r}: expected a .jsonl, .parquet, .arrow or .tsv file, or the prefix of aligned text "
                f"files {pair[0]} and {pair[1]} (missing)"
            )
        return self._split(file_key(*pair), lambda: read_text_pair(*pair), "source", "target")

    def render_source(self, example: Example) -> str:
        return templates.TRANSLATION.format(
            source_language=language_name(self.source_lang),
            target_language=language_name(self.target_lang),
            source=example.source,
        )
