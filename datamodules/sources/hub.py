"""Examples from a Hugging Face dataset (a hub id, or a local directory laid out like one)."""

import pyarrow as pa
from datasets import load_dataset, load_dataset_builder
from datasets.exceptions import DatasetGenerationError

from ftscale.datamodules.sources.files import builder_errors_unlogged
from ftscale.datamodules.sources.located import Located, table_blocks
from ftscale.datamodules.sources.scan import explain_binary
from ftscale.errors import InputError, MissingFileError


def read_hub(name: str, config: str | None, split: str) -> Located:
    """The records of `load_dataset(name, config, split=split)`; `split` may slice (`validation[:50%]`). A Parquet or
    Arrow file that cannot be read is named when the dataset is a local directory; else the dataset is."""
    where = name + (f" ({config})" if config else "") + f" split {split}"
    try:
        with builder_errors_unlogged():
            data = load_dataset(name, config, split=split)
    except (pa.ArrowException, DatasetGenerationError) as error:
        raise explain_binary(_data_files(name, config)) or InputError(
            f"{where}: unreadable ({' '.join(str(error.__cause__ or error).split())})"
        ) from None
    except OSError as error:  # not a local directory, and the hub does not have it or cannot be reached
        raise MissingFileError(
            f"{where}: not a local dataset directory and not loadable from the Hugging Face hub ({_first_line(error)})"
        ) from error
    except ValueError as error:  # `datasets`' own refusals: an unknown config or split, a bad slice
        raise InputError(f"{where}: {_first_line(error)}") from error
    if not len(data):
        raise InputError(f"{where}: the split is empty; expected examples")
    table = data.data.table if data._indices is None else data.with_format("arrow")[:]
    return Located(table_blocks(table), f"hub|{data._fingerprint}", lambda row: f"{where} row {row + 1}")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _data_files(name: str, config: str | None) -> list[str]:
    """The data files of every split of a dataset (local paths for a local directory, else hub URLs)."""
    files = load_dataset_builder(name, config).config.data_files or {}
    return [str(path) for paths in files.values() for path in paths]
