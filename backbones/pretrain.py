"""`ftscale pretrain`: pretrain the ladder on the embedded corpus, checkpointed at token budgets, cached."""

import contextlib
import functools
import hashlib
import json
import math
import multiprocessing
import queue
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import torch
from jsonargparse import ActionConfigFile, ArgumentParser
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import AutoTokenizer, LlamaForCausalLM

from ftscale.backbones.ladder import LADDER, ladder_config
from ftscale.callbacks.token_budget import TokenBudgetCheckpoint
from ftscale.datamodules import PretrainCorpus, world_tokenizer
from ftscale.datamodules.cache import cache_dir
from ftscale.lightning_modules import FullFinetune

MANIFEST = "manifest.json"
RECIPE = "constant-lr-v2"  # part of the cache key: bump when the pretraining recipe changes


@dataclass
class PretrainConfig:
    """How the ladder is pretrained.

    Args:
        sizes: Ladder sizes to pretrain (see `backbones.ladder.LADDER`).
        token_budgets: Pretraining tokens at which a checkpoint is saved (also `tokens-0`, the random init);
            each a multiple of seq_len * batch_size.
        world_seed: Seed of the embedded world whose corpus and tokenizer are used.
        vocab_size: Size of the world tokenizer.
        seq_len: Tokens per packed training sequence.
        batch_size: Sequences per step.
        learning_rate: AdamW learning rate after warmup, held constant so that every budget's checkpoint is
            trained alike (a schedule decaying to the largest budget would leave the earlier ones un-annealed
            and break the power law in pretraining tokens).
        warmup_ratio: Fraction of the steps spent warming up.
        val_tokens: Held-out corpus tokens each checkpoint is evaluated on.
        seed: Seed of the weight initialisation and data order.
    """

    sizes: list[str] = field(default_factory=lambda: ["xs", "s", "m", "l"])
    token_budgets: list[int] = field(default_factory=lambda: [262144, 524288, 1048576, 2097152])
    world_seed: int = 0
    vocab_size: int = 2048
    seq_len: int = 128
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05
    val_tokens: int = 65536
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.sizes if s not in LADDER]
        if not self.sizes or unknown:
            raise ValueError(f"pretrain sizes {unknown or '[]'} invalid; expected names from {sorted(LADDER)}")
        step = self.seq_len * self.batch_size
        bad = [b for b in self.token_budgets if b <= 0 or b % step]
        if not self.token_budgets or bad:
            raise ValueError(
                f"pretrain token_budgets {bad or '[]'} invalid; each must be a positive multiple of "
                f"seq_len * batch_size = {step}"
            )

    @property
    def key(self) -> str:
        """Cache key of everything but `sizes`, so adding a size to a ladder reuses the others."""
        fields = {k: v for k, v in asdict(self).items() if k != "sizes"} | {"recipe": RECIPE}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def size_dir(self, size: str) -> Path:
        return cache_dir("ladder", self.key, size)

    def checkpoint_dir(self, size: str, tokens: int | None = None) -> Path:
        """Directory of the `size` checkpoint after `tokens` pretraining tokens (None: the largest budget)."""
        tokens = max(self.token_budgets) if tokens is None else tokens
        if tokens != 0 and tokens not in self.token_budgets:
            raise ValueError(f"no checkpoint at {tokens} tokens; budgets are 0 and {self.token_budgets}")
        return self.size_dir(size) / f"tokens-{tokens}"


def config_parser() -> ArgumentParser:
    """The typed reader of pretraining config files (jsonargparse checks every field against PretrainConfig)."""
    parser = ArgumentParser(prog="ftscale pretrain", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_class_arguments(PretrainConfig)
    return parser


def load_pretrain_config(path: str | Path) -> PretrainConfig:
    """Read a pretraining config file (`configs/pretrain/*.yaml`)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"ladder config {str(path)!r} does not exist")
    try:
        cfg = config_parser().parse_args(["--config", str(path)])
    except Exception as error:  # jsonargparse's errors: bad YAML, unknown or mistyped fields
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: not a valid pretraining config ({reason})") from None
    return PretrainConfig(**{k: v for k, v in vars(cfg).items() if k != "config"})


def read_manifest(config: PretrainConfig, size: str) -> dict | None:
    """The pretraining record of `size` (parameters, checkpoints, held-out loss), or None if not trained."""
    path = config.size_dir(size) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def pretrain_ladder(
    config: PretrainConfig,
    workers: int = 1,
    threads: int | None = None,
    worker_setup: Callable[[], None] | None = None,
) -> dict[str, dict]:
    """Pretrain every size of `config` that is not cached yet; return each size's manifest.

    With `workers` > 1 the sizes train at once in processes of their own, each on `threads` torch threads and
    set up by `worker_setup` (e.g. the CLI's quiet logging): on a few CPU cores, tiny models train faster side by
    side than one after another on all cores.
    """
    todo = [s for s in config.sizes if read_manifest(config, s) is None]
    tokenizer_dir = world_tokenizer(config.world_seed, config.vocab_size)
    if todo:
        columns = (
            TextColumn("pretraining {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tokens"),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as progress:
            task = progress.add_task(", ".join(todo), total=len(todo) * max(config.token_budgets))
            advance = functools.partial(progress.advance, task)
            if workers > 1 and len(todo) > 1:
                workers = min(workers, len(todo))
                _pretrain_side_by_side(config, todo, tokenizer_dir, workers, (threads, worker_setup), advance)
            else:
                for size in todo:
                    _pretrain_size(config, size, tokenizer_dir, advance)
    return {size: read_manifest(config, size) for size in config.sizes}


def _pretrain_side_by_side(
    config: PretrainConfig,
    sizes: list[str],
    tokenizer_dir: Path,
    workers: int,
    setup: tuple[int | None, Callable[[], None] | None],
    advance: Callable[[int], None],
) -> None:
    # Spawned, not forked (torch threads); the largest sizes first, so the longest run starts at once.
    context = multiprocessing.get_context("spawn")
    tokens = context.Queue()
    order = sorted(sizes, key=lambda s: -LADDER[s].hidden * LADDER[s].layers)
    with ProcessPoolExecutor(workers, context, initializer=_pretrain_worker, initargs=(tokens, *setup)) as pool:
        futures = [pool.submit(_pretrain_size, config, size, tokenizer_dir, None) for size in order]
        while not all(future.done() for future in futures):
            with contextlib.suppress(queue.Empty):
                advance(tokens.get(timeout=0.2))
        for future in futures:
            future.result()  # a size that failed raises here


_TOKENS = None  # in a pretraining worker: the queue its progress goes to


def _pretrain_worker(tokens, threads: int | None, setup: Callable[[], None] | None) -> None:
    global _TOKENS
    _TOKENS = tokens
    if threads:
        torch.set_num_threads(threads)
    if setup is not None:
        setup()


def _pretrain_size(
    config: PretrainConfig, size: str, tokenizer_dir: Path, on_tokens: Callable[[int], None] | None
) -> None:
    """Pretrain one size, checkpointed at every budget; progress to `on_tokens` (None: a worker's queue)."""
    L.seed_everything(config.seed, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model_config = ladder_config(
        size, len(tokenizer), 1024, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    init_dir = config.checkpoint_dir(size, 0)
    model = LlamaForCausalLM(model_config)
    model.save_pretrained(init_dir)
    tokenizer.save_pretrained(init_dir)

    data = PretrainCorpus(
        tokenizer=str(tokenizer_dir),
        world_seed=config.world_seed,
        num_tokens=max(config.token_budgets),
        seq_len=config.seq_len,
        batch_size=config.batch_size,
        val_tokens=config.val_tokens,
    )
    module = pretraining_module(config, init_dir)
    on_tokens = on_tokens or _TOKENS.put
    budgets = TokenBudgetCheckpoint(config.token_budgets, lambda t: config.checkpoint_dir(size, t), on_tokens)
    trainer = _trainer(
        max_steps=math.ceil(max(config.token_budgets) / (config.seq_len * config.batch_size)),
        callbacks=[budgets],
        limit_val_batches=0,
    )
    trainer.fit(module, data)

    checkpoints = []
    for tokens in [0, *sorted(config.token_budgets)]:
        path = config.checkpoint_dir(size, tokens)
        (metrics,) = _trainer().validate(FullFinetune(backbone=str(path)), data, verbose=False)
        checkpoints.append({"tokens": tokens, "path": str(path), "val_loss": metrics["val/loss"]})
    manifest = {
        "size": size,
        "total_params": model.num_parameters(),
        "non_embedding_params": model.num_parameters(exclude_embeddings=True),
        "checkpoints": checkpoints,
    }
    # Written last and atomically: its presence is what marks the size as done.
    tmp = config.size_dir(size) / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(config.size_dir(size) / MANIFEST)


def pretraining_module(config: PretrainConfig, init_dir: Path) -> FullFinetune:
    """The module that pretrains a ladder model: full tuning of the random init at a constant learning rate."""
    return FullFinetune(
        backbone=str(init_dir),
        learning_rate=config.learning_rate,
        warmup_ratio=config.warmup_ratio,
        lr_schedule="constant",
    )


def _trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="auto",
        devices=1,
        precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kwargs,
    )
