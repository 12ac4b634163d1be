"""The pretraining corpus: packed blocks, held-out validation, cached tokenization."""

import numpy as np
from transformers import AutoTokenizer

from ftscale.datamodules import PretrainCorpus


def test_blocks_validation_and_cache(world_tokenizer_dir):
    data = PretrainCorpus(str(world_tokenizer_dir), num_tokens=20_000, seq_len=64, batch_size=4, val_tokens=2_000)
    data.prepare_data()
    data.setup("fit")
    train, val = data.blocks["train"], data.blocks["validation"]
    assert train.shape == (20_000 // 64, 64) and val.shape == (2_000 // 64, 64)
    batch = next(iter(data.train_dataloader()))
    assert batch["input_ids"].shape == (4, 64)
    assert (batch["labels"] == batch["input_ids"]).all() and (batch["attention_mask"] == 1).all()

    tokenizer = AutoTokenizer.from_pretrained(world_tokenizer_dir)
    assert (train == tokenizer.eos_token_id).sum() > 10  # documents separated by eos

    def documents(blocks: np.ndarray) -> set[str]:  # whole documents only: the ends are cut by packing
        return set(tokenizer.decode(blocks.ravel().tolist()).split("</s>")[1:-1])

    assert not documents(train) & documents(val)  # held out: another stream of the world

    files = {p.name: p.stat().st_mtime_ns for p in data.cache_path.iterdir()}
    again = PretrainCorpus(str(world_tokenizer_dir), num_tokens=20_000, seq_len=64, val_tokens=2_000)
    again.setup("fit")  # a cache hit: same arrays, nothing rewritten
    assert np.array_equal(again.blocks["train"], train)
    assert {p.name: p.stat().st_mtime_ns for p in again.cache_path.iterdir()} == files
    assert PretrainCorpus(str(world_tokenizer_dir), num_tokens=20_000, seq_len=32).cache_path != data.cache_path
