"""`Summarization`: multilingual news summarisation, MLSum (de, es, fr, ...) mixed with CNN/DailyMail (en)."""

import datasets

from ftscale.datamodules import templates
from ftscale.datamodules.finetune import FinetuneDataModule
from ftscale.datamodules.language_names import language_name
from ftscale.datamodules.sources import file_key, read_file, read_hub
from ftscale.datamodules.sources.choice import check_sources, split_file
from ftscale.datamodules.splits import checked_split
from ftscale.datamodules.world import Example
from ftscale.errors import InputError

MLSUM_FIELDS = ("text", "summary")
CNN_DAILYMAIL_FIELDS = ("article", "highlights")


class Summarization(FinetuneDataModule):
    """Summaries in the document's language; each language's examples keep their language, so `train_size`
    subsets keep the languages' mix (their shares of the training split) at every size.

    English comes from CNN/DailyMail (fields `article`, `highlights`), every other language from MLSum (config
    = the code: de, es, fr, ru, tu; fields `text`, `summary`). The prompt is the paper's prefix,
    "Summarize the following document in {language}:", then the document.

    Args:
        tokenizer: Hugging Face tokenizer path or hub id (usually the backbone's).
        languages: Codes of the languages mixed (paper: de, es, fr from MLSum and en from CNN/DailyMail).
        mlsum_dataset: Hugging Face id (or local directory laid out like it) of MLSum.
        cnn_dailymail_dataset: Hugging Face id (or local directory) of CNN/DailyMail.
        cnn_dailymail_config: CNN/DailyMail's config.
        splits: The dataset split read for each of ours; unnamed ones read the split of the same name.
        data_files: Local `.jsonl`, `.parquet` or `.arrow` files instead of the datasets, per language and split:
            {"de": {"train": path, "validation": path, "test": path}, "en": {...}}, in the fields above.
        drop_empty: Drop examples with an empty document or summary (counted in a warning) instead of failing.
        **kwargs: The shared options of `FinetuneDataModule` (train_size, subset_seed, batch_size, ...).
    """

    def __init__(
        self,
        tokenizer: str,
        languages: list[str] | None = None,
        mlsum_dataset: str | None = "mlsum",
        cnn_dailymail_dataset: str = "cnn_dailymail",
        cnn_dailymail_config: str = "3.0.0",
        splits: dict[str, str] | None = None,
        data_files: dict[str, dict[str, str]] | None = None,
        drop_empty: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(tokenizer, **kwargs)
        languages = ["de", "es", "fr", "en"] if languages is None else list(languages)
        if not languages or len(set(languages)) < len(languages):
            raise InputError(f"data.languages={languages}: expected one or more different language codes")
        self.languages = languages
        # Local files replace both datasets.
        self.mlsum_dataset = None if data_files is not None else mlsum_dataset
        self.splits = check_sources(self.mlsum_dataset, data_files, splits, "data.mlsum_dataset")
        self.cnn_dailymail_dataset = cnn_dailymail_dataset
        self.cnn_dailymail_config = cnn_dailymail_config
        self.data_files = data_files
        self.drop_empty = drop_empty

    def language_split(self, language: str, split: str) -> datasets.Dataset:
        """One language's examples of a split."""
        source, target = CNN_DAILYMAIL_FIELDS if language == "en" else MLSUM_FIELDS
        if self.data_files is not None:
            if language not in self.data_files:
                raise InputError(
                    f"data.data_files has no files for language {language!r} of data.languages (it has "
                    f"{', '.join(self.data_files) or 'none'})"
                )
            path = split_file(self.data_files[language], split, f"data.data_files.{language}")
            return checked_split(file_key(path), lambda: read_file(path), source, target, language, self.drop_empty)
        name, config = (
            (self.cnn_dailymail_dataset, self.cnn_dailymail_config)
            if language == "en"
            else (
                self.mlsum_dataset,
                language,
            )
        )
        located = read_hub(name, config, self.splits[split])
        return checked_split(located.fingerprint, lambda: located, source, target, language, self.drop_empty)

    def load_split(self, split: str) -> datasets.Dataset:
        return datasets.concatenate_datasets([self.language_split(language, split) for language in self.languages])

    def render_source(self, example: Example) -> str:
        return templates.SUMMARIZATION.format(language=language_name(example.language), document=example.source)
