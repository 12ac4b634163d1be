"""Examples from a Hugging Face dataset (a hub id, or a local directory laid out like one)."""

from datasets import load_dataset

from ftscale.datamodules.sources.record import Record


def read_hub(name: str, config: str | None, split: str) -> list[Record]:
    """The records of `load_dataset(name, config, split=split)`; `split` may slice (`validation[:50%]`)."""
    rows = load_dataset(name, config, split=split).to_list()  # arrow → Python in one pass, not row by row
    where = name + (f" ({config})" if config else "") + f" split {split}"
    if not rows:
        raise ValueError(f"{where}: the split is empty; expected examples")
    return [Record(row, f"{where} row {i}") for i, row in enumerate(rows, 1)]
