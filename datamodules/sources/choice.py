"""Which source a task reads: a Hugging Face dataset or local files, and the file or split of each of our splits."""

from ftscale.datamodules.finetune import SPLITS
from ftscale.errors import InputError


def check_sources(
    dataset: str | None, data_files: dict | None, splits: dict[str, str] | None, dataset_argument: str = "data.dataset"
) -> dict[str, str]:
    """Exactly one of a dataset and local files; the dataset split read for each of ours (default: the same name)."""
    if (dataset is None) == (data_files is None):
        raise InputError(
            f"give exactly one of {dataset_argument} (a Hugging Face dataset) and data.data_files (local files)"
        )
    splits = {**{split: split for split in SPLITS}, **(splits or {})}
    if set(splits) != set(SPLITS):
        raise InputError(f"data.splits has keys {sorted(splits)}; expected only {', '.join(SPLITS)}")
    return splits


def split_file(data_files: dict[str, str], split: str, argument: str = "data.data_files") -> str:
    """The local file of one of our splits."""
    if split not in data_files:
        raise InputError(f"{argument} has no {split!r} file (it has {', '.join(data_files) or 'none'})")
    return data_files[split]
