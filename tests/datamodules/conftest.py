"""Fixtures of the real-task datamodules: the committed example files and a local Hugging Face dataset."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ftscale.datamodules.world import Example

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SPLITS = ("train", "validation", "test")


def as_examples(split) -> list[Example]:
    """The rows of an Arrow-backed split (`FinetuneDataModule.examples`) as `Example`s."""
    return [Example(**row) for row in split]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def split_files(folder: str, suffix: str = ".jsonl") -> dict[str, str]:
    """{split: path} of a fixture folder (`suffix=""` gives the prefixes of aligned text pairs)."""
    return {split: str(DATA / folder / f"{split}{suffix}") for split in SPLITS}


def write_records(path: Path, rows: list[dict]) -> Path:
    """`rows` as a Parquet file or an Arrow stream (as `datasets` writes its shards), by the suffix of `path`."""
    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return path


def write_hub_dataset(root: Path, config: str, splits: dict[str, list[dict]]) -> Path:
    """A local directory laid out like a hub dataset: `<config>/<split>-00000-of-00001.parquet` and a README
    whose `configs:` metadata names the config, so `load_dataset(root, config)` reads it as it would the hub."""
    lines = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split, rows in splits.items():
        (root / config).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), root / config / f"{split}-00000-of-00001.parquet")
        lines += [f"  - split: {split}", f"    path: {config}/{split}-*.parquet"]
    (root / "README.md").write_text("\n".join([*lines, "---", ""]))
    return root


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """Keep `load_dataset`'s arrow cache inside the test's directory."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    return tmp_path / "hf-datasets"


@pytest.fixture
def wmt_hub_dir(tmp_path, hf_cache) -> Path:
    """The en-de fixture as a local copy of a WMT-style hub dataset (config `de-en`)."""
    splits = {split: read_jsonl(DATA / "wmt_en_de" / f"{split}.jsonl") for split in SPLITS}
    return write_hub_dataset(tmp_path / "wmt", "de-en", splits)
