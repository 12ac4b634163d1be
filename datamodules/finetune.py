"""`FinetuneDataModule`: the base of every finetuning task (render, tokenize, mask, subset, batch)."""

from functools import cached_property

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ftscale.datamodules.batching import PadCollator, TokenizedPairs
from ftscale.datamodules.length_grouping import SeededLengthGroupedSampler
from ftscale.datamodules.packing import PackCollator, check_packable
from ftscale.datamodules.shots import Demonstrations
from ftscale.datamodules.subsets import nested_subset
from ftscale.datamodules.tokenized_cache import cache_key, load_tokenized, save_tokenized, tokenizer_fingerprint
from ftscale.datamodules.world import Example

SPLITS = ("train", "validation", "test")
STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",), "predict": ("test",)}


class FinetuneDataModule(L.LightningDataModule):
    """Conditional-LM finetuning data; a task subclasses it with `load_split` and `render_source`.

    An example becomes `[bos] + tokens(render_source(example)) + tokens(target) + [eos]`, with the loss
    on the target and eos only. Training uses a nested, language-stratified subset of `train_size`
    examples; validation and test use their whole splits. Tokenized splits are cached on disk
    (`tokenized_cache.py`), so the points of a sweep tokenize a shared split once.

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
    ) -> None:
        super().__init__()
        if train_size is not None and train_size < 1:
            raise ValueError(f"data.train_size={train_size} must be at least 1 (or null for the whole split)")
        if min(batch_size, eval_batch_size, max_source_tokens - 1, max_target_tokens - 1) < 1:
            raise ValueError("batch sizes must be >= 1 and max_source_tokens, max_target_tokens >= 2")
        if num_shots < 0:
            raise ValueError(f"data.num_shots={num_shots} must be at least 0")
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
        self.truncated: dict[str, int] = {}  # "<split>/source" and "<split>/target": examples cut short
        self._examples: dict[str, list[Example]] = {}
        self._datasets: dict[str, TokenizedPairs] = {}

    def load_split(self, split: str) -> list[Example]:
        """All examples of a split ("train", "validation" or "test")."""
        raise NotImplementedError

    def render_source(self, example: Example) -> str:
        """The prompt the model sees before the target (the task template)."""
        raise NotImplementedError

    def examples(self, split: str) -> list[Example]:
        """The examples of a split, loaded once."""
        if split not in self._examples:
            self._examples[split] = self.load_split(split)
        return self._examples[split]

    @cached_property
    def hf_tokenizer(self) -> PreTrainedTokenizerBase:
        tokenizer = AutoTokenizer.from_pretrained(self.tokenizer)
        if tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer {self.tokenizer!r} has no eos token; targets must end with one")
        return tokenizer

    @property
    def pad_token_id(self) -> int:
        tokenizer = self.hf_tokenizer
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @property
    def num_train_examples(self) -> int:
        """Examples trained on: train_size, or the whole training split."""
        return self.train_size if self.train_size is not None else len(self.examples("train"))

    def train_indices(self) -> list[int]:
        """Indices into the training split of the examples trained on."""
        languages = [example.language for example in self.examples("train")]
        if self.train_size is not None and self.train_size > len(languages):
            raise ValueError(
                f"data.train_size={self.train_size} is larger than the training split ({len(languages)} "
                f"examples); use 1 <= data.train_size <= {len(languages)}"
            )
        return nested_subset(languages, self.train_size or len(languages), self.subset_seed)

    def prompts(self, split: str, examples: list[Example]) -> list[str]:
        """The sources of a split's examples: the task template, after k demonstrations on evaluation splits."""
        if split == "train" or not self.num_shots:
            return [self.render_source(e) for e in examples]
        shots = Demonstrations(self.examples("train"), self.num_shots, self.shot_seed, self.render_source)
        return [shots.prompt(position, e) for position, e in enumerate(examples)]

    def encode(
        self, prompts: list[str], targets: list[str], keep_source_end: bool
    ) -> tuple[list[list[int]], list[int], tuple[int, int]]:
        """Run the tokenizer: `[bos] + source + target + [eos]` ids, source lengths, and (sources, targets) cut."""
        tokenizer = self.hf_tokenizer
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        # Batch encoding runs in the fast tokenizer's Rust threads.
        sources = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(targets, add_special_tokens=False)["input_ids"]
        room_source, room_target = self.max_source_tokens - len(bos), self.max_target_tokens - 1
        ids, source_lengths, cut_source, cut_target = [], [], 0, 0
        for source, target in zip(sources, target_ids, strict=True):
            cut_source += len(source) > room_source
            cut_target += len(target) > room_target
            source = bos + (source[max(0, len(source) - room_source) :] if keep_source_end else source[:room_source])
            ids.append(source + target[:room_target] + [tokenizer.eos_token_id])
            source_lengths.append(len(source))
        return ids, source_lengths, (cut_source, cut_target)

    def tokenize(self, split: str, examples: list[Example]) -> TokenizedPairs:
        """Token ids of examples of a split (cached on disk), with truncations counted in `self.truncated`."""
        prompts, targets = self.prompts(split, examples), [e.target for e in examples]
        keep_source_end = split != "train" and self.num_shots > 0
        limits = (self.max_source_tokens, self.max_target_tokens, keep_source_end)
        key = cache_key(tokenizer_fingerprint(self.tokenizer, self.hf_tokenizer), limits, prompts, targets)
        cached = load_tokenized(key)
        if cached is None:
            cached = self.encode(prompts, targets, keep_source_end)
            save_tokenized(key, *cached)
        ids, source_lengths, (cut_source, cut_target) = cached
        self.truncated[f"{split}/source"], self.truncated[f"{split}/target"] = cut_source, cut_target
        if cut_source or cut_target:
            rank_zero_warn(
                f"{split}: truncated {cut_source} sources to {self.max_source_tokens} tokens and {cut_target} "
                f"targets to {self.max_target_tokens} tokens (of {len(examples)} examples)"
            )
        return TokenizedPairs(ids, source_lengths, [e.target for e in examples], [e.language for e in examples])

    def dataset(self, split: str) -> TokenizedPairs:
        """The tokenized examples of a split (for "train", of the training subset), built once."""
        if split not in self._datasets:
            examples = self.examples(split)
            if split == "train":
                # Tokenize only the subset: a small train_size of a large split stays cheap.
                examples = [examples[i] for i in self.train_indices()]
            self._datasets[split] = self.tokenize(split, examples)
        return self._datasets[split]

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
        sampler = SeededLengthGroupedSampler([len(ids) for ids in dataset.ids], batch_size) if group_by_length else None
        return DataLoader(
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
