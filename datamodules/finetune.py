"""`FinetuneDataModule`: the base of every finetuning task (render, tokenize, mask, subset, batch)."""

from functools import cached_property, partial

import datasets
import lightning as L
import numpy as np
import pyarrow.compute as pc
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ftscale.datamodules.batching import PadCollator, TokenizedPairs
from ftscale.datamodules.length_grouping import SeededLengthGroupedSampler
from ftscale.datamodules.packing import PackCollator, check_packable
from ftscale.datamodules.shots import Demonstrations
from ftscale.datamodules.splits import gather, split_languages
from ftscale.datamodules.subsets import nested_subset
from ftscale.datamodules.tokenizing import (
    cached_tokens,
    chunk_bounds,
    fingerprint,
    gather_groups,
    processes,
    tokenize_split,
    tokenizer_fingerprint,
)
from ftscale.datamodules.world import Example
from ftscale.errors import InputError, MissingFileError

SPLITS = ("train", "validation", "test")
STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",), "predict": ("test",)}


class FinetuneDataModule(L.LightningDataModule):
    """Conditional-LM finetuning data; a task subclasses it with `load_split` and `render_source`.

    An example becomes `[bos] + tokens(render_source(example)) + tokens(target) + [eos]`, with the loss
    on the target and eos only. Training uses a nested, language-stratified subset of `train_size`
    examples; validation and test use their whole splits. Splits are memory-mapped Arrow tables, and each is
    tokenized whole once and cached on disk (`tokenizing.py`), so the points of a sweep share one tokenization.

    Args:
        tokenizer: Hugging Face tokenizer path or hub id (usually the backbone's).
        train_size: Finetuning examples to train on (the paper's Df); None uses the whole training split.
        subset_seed: Seed of the training subset; different seeds give the paper's "random subsets".
        batch_size: Training examples per batch.
        eval_batch_size: Validation and test examples per batch.
        max_source_tokens: Longest source (prompt) in tokens, bos included; longer ones are cut at the end
            (k-shot prompts at the start, so the example's own prompt stays). Cuts are counted, warned and logged.
        max_target_tokens: Longest target in tokens, eos included; longer ones are cut at the end.
        num_shots: Demonstrations (prompt and target of training examples) before every validation and test
            prompt, for few-shot evaluation; training prompts never have any.
        shot_seed: Seed of the demonstrations drawn for each evaluation example.
        num_workers: DataLoader worker processes.
        group_by_length: Batch training examples of similar length (seeded, shuffled megabatches): less padding.
        pack: Pack the examples of each training batch into fewer rows with restarting position ids (FMT and
            LoRA; not prompt tuning). A step sees the same examples and the same loss, with less padding.
        tokenizer_revision: Hub revision of the tokenizer (a branch, tag or commit, e.g. Pythia's `step1000`).
        num_proc: Processes that tokenize a split; None uses the available cores for splits large enough to pay
            for starting them (`tokenizing.PARALLEL_MIN_ROWS` examples per process) and one otherwise.
    """

    def __init__(
        self,
        tokenizer: str,
        train_size: int | None = None,
        subset_seed: int = 0,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        max_source_tokens: int = 256,
        max_target_tokens: int = 256,
        num_shots: int = 0,
        shot_seed: int = 0,
        num_workers: int = 0,
        group_by_length: bool = False,
        pack: bool = False,
        tokenizer_revision: str | None = None,
        num_proc: int | None = None,
    ) -> None:
        super().__init__()
        if train_size is not None and train_size < 1:
            raise InputError(f"data.train_size={train_size} must be at least 1 (or null for the whole split)")
        if min(batch_size, eval_batch_size, max_source_tokens - 1, max_target_tokens - 1) < 1:
            raise InputError("batch sizes must be >= 1 and max_source_tokens, max_target_tokens >= 2")
        if num_shots < 0:
            raise InputError(f"data.num_shots={num_shots} must be at least 0")
        self.save_hyperparameters()
        self.tokenizer = tokenizer
        self.train_size = train_size
        self.subset_seed = subset_seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.max_source_tokens = max_source_tokens
        self.max_target_tokens = max_target_tokens
        self.num_shots = num_shots
        self.shot_seed = shot_seed
        self.num_workers = num_workers
        self.group_by_length = group_by_length
        self.pack = pack
        self.tokenizer_revision = tokenizer_revision
        self.num_proc = num_proc
        self.truncated: dict[str, int] = {}  # "<split>/source" and "<split>/target": examples cut short
        self._examples: dict[str, datasets.Dataset] = {}
        self._datasets: dict[str, TokenizedPairs] = {}

    def load_split(self, split: str) -> datasets.Dataset:
        """All examples of a split ("train", "validation" or "test"): a memory-mapped Arrow table of `source`,
        `target` and `language` (see `splits.py`)."""
        raise NotImplementedError

    def render_source(self, example: Example) -> str:
        """The prompt the model sees before the target (the task template)."""
        raise NotImplementedError

    def examples(self, split: str) -> datasets.Dataset:
        """The examples of a split, loaded once."""
        if split not in self._examples:
            self._examples[split] = self.load_split(split)
        return self._examples[split]

    @cached_property
    def hf_tokenizer(self) -> PreTrainedTokenizerBase:
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.tokenizer, revision=self.tokenizer_revision)
        except OSError as err:  # a hub id that is unknown, or a hub that cannot be reached (the backbone's too)
            at = f" at revision {self.tokenizer_revision!r}" if self.tokenizer_revision else ""
            raise MissingFileError(
                f"tokenizer {self.tokenizer!r}{at} (model.backbone): not in a local model directory and not loadable "
                f"from the Hugging Face hub ({str(err).splitlines()[0]})"
            ) from err
        if tokenizer.eos_token_id is None:
            raise InputError(f"tokenizer {self.tokenizer!r} has no eos token; targets must end with one")
        return tokenizer

    @property
    def pad_token_id(self) -> int:
        tokenizer = self.hf_tokenizer
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @property
    def num_train_examples(self) -> int:
        """Examples trained on: train_size, or the whole training split."""
        return self.train_size if self.train_size is not None else len(self.examples("train"))

    def check_train_size(self, size: int) -> None:
        """Fail unless the training split has `size` examples."""
        total = len(self.examples("train"))
        if size > total:
            raise InputError(
                f"data.train_size={size} is larger than the training split ({total} examples); use "
                f"1 <= data.train_size <= {total}"
            )

    def subset(self, size: int) -> np.ndarray:
        """The nested subset of `size` examples of the training split (indices, in subset order)."""
        self.check_train_size(size)
        return nested_subset(self.examples("train").data.column("language"), size, self.subset_seed)

    def train_indices(self) -> np.ndarray:
        """Indices into the training split of the examples trained on, in subset order."""
        return self.subset(self.num_train_examples)

    @cached_property
    def demonstrations(self) -> Demonstrations:
        return Demonstrations(self.examples("train"), self.num_shots, self.shot_seed, self.render_source)

    def prompts(self, split: str, examples: list[Example], positions: list[int] | None = None) -> list[str]:
        """The sources of examples at `positions` (default: 0, 1, ...) of a split: the task template, after k
        demonstrations on evaluation splits."""
        if split == "train" or not self.num_shots:
            return [self.render_source(e) for e in examples]
        positions = range(len(examples)) if positions is None else positions
        return [self.demonstrations.prompt(p, e) for p, e in zip(positions, examples, strict=True)]

    def encode(
        self, prompts: list[str], targets: list[str], keep_source_end: bool
    ) -> tuple[list[list[int]], list[int], list[bool], list[bool]]:
        """Run the tokenizer: `[bos] + source + target + [eos]` ids, source lengths, and whether each source and
        target was cut."""
        tokenizer = self.hf_tokenizer
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        # Batch encoding runs in the fast tokenizer's Rust threads.
        sources = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(targets, add_special_tokens=False)["input_ids"]
        room_source, room_target = self.max_source_tokens - len(bos), self.max_target_tokens - 1
        ids, source_lengths, cut_sources, cut_targets = [], [], [], []
        for source, target in zip(sources, target_ids, strict=True):
            cut_sources.append(len(source) > room_source)
            cut_targets.append(len(target) > room_target)
            source = bos + (source[max(0, len(source) - room_source) :] if keep_source_end else source[:room_source])
            ids.append(source + target[:room_target] + [tokenizer.eos_token_id])
            source_lengths.append(len(source))
        return ids, source_lengths, cut_sources, cut_targets

    def _encode_batch(self, batch: dict[str, list], positions: list[int], split: str) -> dict[str, list]:
        keep_source_end = split != "train" and self.num_shots > 0
        examples = [Example(*row) for row in zip(batch["source"], batch["target"], batch["language"], strict=True)]
        prompts = self.prompts(split, examples, positions)
        ids, lengths, cut_source, cut_target = self.encode(prompts, batch["target"], keep_source_end)
        return {"input_ids": ids, "source_length": lengths, "cut_source": cut_source, "cut_target": cut_target}

    def cache_key(self, split: str) -> tuple:
        """What decides a split's token ids: the tokenizer's content, the limits, the template (rendered for a marker
        example per language), the data, and on evaluation splits the k-shot draw."""
        examples = self.examples(split)
        shots = split != "train" and self.num_shots > 0
        languages = split_languages(examples)
        return (
            tokenizer_fingerprint(self.tokenizer, self.hf_tokenizer),
            (self.max_source_tokens, self.max_target_tokens, shots),
            [self.render_source(Example("\0source\0", "\0target\0", code)) for code in languages],
            examples._fingerprint,
            (self.num_shots, self.shot_seed, self.examples("train")._fingerprint) if shots else None,
        )

    def tokenized(self, split: str) -> datasets.Dataset:
        """Token ids of a split's examples, cached (see `tokenizing.py`); of "train", the first `num_train_examples`
        of the subset order, tokenized in chunks that the points of a sweep with the same subset seed share."""
        examples, encode = self.examples(split), partial(self._encode_batch, split=split)
        if split != "train":
            key = fingerprint(*self.cache_key(split))
            return tokenize_split(examples, encode, key, processes(len(examples), self.num_proc))
        size = self.num_train_examples
        self.check_train_size(size)  # before the tokenizer loads
        base = self.cache_key(split)
        keys = {bounds: fingerprint(*base, (self.subset_seed, *bounds)) for bounds in chunk_bounds(size, len(examples))}
        chunks = {bounds: cached_tokens(key) for bounds, key in keys.items()}
        missing = [bounds for bounds, chunk in chunks.items() if chunk is None]
        # A warm run stops here: it needs neither the subset order nor a pass over the split.
        if missing:
            order = self.subset(missing[-1][1])  # nested: its prefixes are every smaller subset's
            for group in gather_groups(missing):
                # The examples of a few chunks, read in one pass over the split (the chunks are in subset order, a
                # random take from all of it).
                table = gather(examples, np.concatenate([order[start:end] for start, end in group]))
                offset = 0
                for start, end in group:
                    # Named by its key: `datasets` would otherwise fingerprint an in-memory table by hashing its rows.
                    rows = datasets.Dataset(table.slice(offset, end - start), fingerprint=keys[start, end])
                    num_proc = processes(end - start, self.num_proc)
                    chunks[start, end] = tokenize_split(rows, encode, keys[start, end], num_proc)
                    offset += end - start
        return datasets.concatenate_datasets(list(chunks.values())).select(range(size))

    def dataset(self, split: str) -> TokenizedPairs:
        """The tokenized examples of a split (for "train", of the training subset, in subset order), with
        truncations counted in `self.truncated`."""
        if split not in self._datasets:
            table = self.tokenized(split)
            for side in ("source", "target"):
                self.truncated[f"{split}/{side}"] = pc.sum(table.data.column(f"cut_{side}")).as_py() or 0
            cut_source, cut_target = self.truncated[f"{split}/source"], self.truncated[f"{split}/target"]
            if cut_source or cut_target:
                rank_zero_warn(
                    f"{split}: truncated {cut_source} sources to {self.max_source_tokens} tokens and {cut_target} "
                    f"targets to {self.max_target_tokens} tokens (of {len(table)} examples)"
                )
            self._datasets[split] = TokenizedPairs(table)
        return self._datasets[split]

    def __getstate__(self) -> dict:
        # Tokenizing processes receive the datamodule (its template and tokenizer), never the trainer.
        return {**self.__dict__, "trainer": None}

    def setup(self, stage: str | None = None) -> None:
        splits = STAGE_SPLITS.get(stage, SPLITS) if stage else SPLITS
        for split in splits:
            self.dataset(split)
        if self.trainer is not None:
            self.log_truncation(splits)

    def log_truncation(self, splits: tuple[str, ...]) -> None:
        """Send each split's truncation counts and fractions to the trainer's loggers (`data/<split>_truncated_*`)."""
        metrics = {}
        for split in splits:
            for side in ("source", "target"):
                cut = self.truncated[f"{split}/{side}"]
                metrics[f"data/{split}_truncated_{side}"] = cut
                metrics[f"data/{split}_truncated_{side}_fraction"] = cut / len(self.dataset(split))
        for logger in self.trainer.loggers:
            logger.log_metrics(metrics, step=self.trainer.global_step)

    def _loader(
        self, split: str, batch_size: int, shuffle: bool, group_by_length: bool = False, pack: bool = False
    ) -> DataLoader:
        dataset = self.dataset(split)
        # A sampler that is not a RandomSampler is kept by Lightning and wrapped per rank under DDP/FSDP.
        sampler = SeededLengthGroupedSampler(dataset.lengths.tolist(), batch_size) if group_by_length else None
        # Stateful: a resumed run (callbacks/resume.py) continues mid-epoch with the batches it had not seen yet.
        return StatefulDataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=(PackCollator if pack else PadCollator)(self.pad_token_id),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if self.pack and self.trainer is not None:
            check_packable(getattr(self.trainer.lightning_module, "model", None))
        # Only training is grouped and packed: evaluation keeps one prompt per row for generation metrics.
        return self._loader("train", self.batch_size, True, self.group_by_length, self.pack)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
