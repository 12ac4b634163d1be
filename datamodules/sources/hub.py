"""Examples from a Hugging Face dataset (a hub id, or a local directory laid out like one)."""

from datasets import load_dataset

from ftscale.datamodules.sources.located import Located, table_blocks


def read_hub(name: str, config: str | None, split: str) -> Located:
    """The records of `load_dataset(name, config, split=split)`; `split` may slice (`validation[:50%]`)."""
    data = load_dataset(name, config, split=split)
    where = name + (f" ({config})" if config else "") + f" split {split}"
    if not len(data):
        raise ValueError(f"{where}: the split is empty; expected examples")
    table = data.data.table if data._indices is None else data.with_format("arrow")[:]
    return Located(table_blocks(table), f"hub|{data._fingerprint}", lambda row: f"{where} row {row + 1}")
