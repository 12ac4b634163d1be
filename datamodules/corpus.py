"""`PretrainCorpus`: the world's pretraining text, tokenized once, cached, and packed into fixed-length blocks."""

import hashlib
import itertools
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.world import GENERATOR_VERSION, World
from ftscale.errors import InputError

DOCS_PER_BATCH = 1024


class PackedBlocks(Dataset):
    """Rows of a [blocks, seq_len] token array as causal-LM examples (labels = inputs; the model shifts)."""

    def __init__(self, blocks: np.ndarray) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ids = torch.from_numpy(self.blocks[index].astype(np.int64))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def _tokenizer_key(tokenizer: str) -> str:
    """Contents hash of a local tokenizer (a retrained one must not reuse the cache), else its name."""
    path = Path(tokenizer) / "tokenizer.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else tokenizer


class PretrainCorpus(L.LightningDataModule):
    """Pretraining data from the embedded world: documents separated by eos, packed into seq_len blocks.

    Validation text comes from an independent random stream of the world, so it is held out.

    Args:
        tokenizer: Hugging Face tokenizer path or hub id.
        world_seed: Seed of the embedded world.
        num_tokens: Training tokens to produce (rounded down to whole blocks, at least one).
        seq_len: Tokens per block.
        batch_size: Blocks per batch.
        val_tokens: Held-out validation tokens (rounded down to whole blocks, at least one).
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        tokenizer: str,
        world_seed: int = 0,
        num_tokens: int = 1_048_576,
        seq_len: int = 128,
        batch_size: int = 32,
        val_tokens: int = 65536,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if min(num_tokens, seq_len, batch_size, val_tokens) < 1:
            raise InputError("num_tokens, seq_len, batch_size and val_tokens must be positive")
        self.save_hyperparameters()
        self.tokenizer = tokenizer
        self.world_seed = world_seed
        self.num_tokens = num_tokens
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.val_tokens = val_tokens
        self.num_workers = num_workers
        self.blocks: dict[str, np.ndarray] = {}

    @property
    def cache_path(self) -> Path:
        fields = [GENERATOR_VERSION, _tokenizer_key(self.tokenizer), self.world_seed, self.num_tokens, self.seq_len]
        key = hashlib.sha256("|".join(map(str, [*fields, self.val_tokens])).encode()).hexdigest()[:16]
        return cache_dir("corpus", key)

    def _num_blocks(self, split: str) -> int:
        return max(1, (self.num_tokens if split == "train" else self.val_tokens) // self.seq_len)

    def _build(self, split: str) -> np.ndarray:
        """Tokenize documents of the split's stream until its blocks are full."""
        tokenizer = AutoTokenizer.from_pretrained(self.tokenizer)
        needed = self._num_blocks(split) * self.seq_len
        # Words bound tokens from below (each word is at least one token), so this many words always suffice.
        documents = World(self.world_seed).pretraining_documents(needed, split=split)
        dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max else np.int32
        pieces, count, batch = [], 0, []
        for document in documents:
            batch.append(document)
            if len(batch) == DOCS_PER_BATCH:
                count += self._encode(tokenizer, batch, pieces, dtype)
                batch = []
                if count >= needed:
                    break
        if batch and count < needed:
            count += self._encode(tokenizer, batch, pieces, dtype)
        if count < needed:
            raise RuntimeError(f"the world produced only {count} of {needed} {split} tokens")
        return np.concatenate(pieces)[:needed].reshape(-1, self.seq_len)

    @staticmethod
    def _encode(tokenizer: PreTrainedTokenizerBase, batch: list[str], pieces: list[np.ndarray], dtype: type) -> int:
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        for doc in ids:
            doc.append(tokenizer.eos_token_id)  # eos between documents
        pieces.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype))
        return len(pieces[-1])

    def prepare_data(self) -> None:
        for split in ("train", "validation"):
            path = self.cache_path / f"{split}.npy"
            if not path.is_file():
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, self._build(split))
                tmp.replace(path)  # atomic: readers see the whole array or none

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # no-op when cached; covers use without a Trainer
        for split in ("train", "validation"):
            self.blocks[split] = np.load(self.cache_path / f"{split}.npy", mmap_mode="r")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.blocks:
            self.setup()
        return DataLoader(
            PackedBlocks(self.blocks[split]),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)
