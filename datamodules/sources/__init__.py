"""Where finetuning examples come from: local files (JSONL, TSV, Parquet, aligned text) and Hugging Face datasets.

Every reader yields `Record`s that remember their file and line (or row), so bad data is reported where it is.
"""

from ftscale.datamodules.sources.files import read_file, read_text_pair
from ftscale.datamodules.sources.hub import read_hub
from ftscale.datamodules.sources.record import Record

__all__ = ["Record", "read_file", "read_hub", "read_text_pair"]
