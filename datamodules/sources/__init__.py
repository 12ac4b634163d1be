"""Where finetuning examples come from: local files (JSONL, TSV, Parquet, aligned text) and Hugging Face datasets.

Every reader gives a `Located`: its records in Arrow blocks, and the file and line (or row) of any of them, so bad
data is reported where it is.
"""

from ftscale.datamodules.sources.fields import Dropped, text_pairs
from ftscale.datamodules.sources.files import file_key, read_file, read_text_pair
from ftscale.datamodules.sources.hub import read_hub
from ftscale.datamodules.sources.located import Located

__all__ = ["Dropped", "Located", "file_key", "read_file", "read_hub", "read_text_pair", "text_pairs"]
