"""`Located`: the records of one data file or dataset split as an Arrow table, and how to name a row in messages."""

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Located:
    """Raw records (`table`, memory-mapped where `datasets` cached them), a content `fingerprint`, and `origin(i)`:
    where row i was read (`data/train.jsonl line 3`), computed only when a message needs it."""

    table: pa.Table
    fingerprint: str
    origin: Callable[[int], str]
