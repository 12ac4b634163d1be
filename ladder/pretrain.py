"""`ftscale pretrain`: pretrain the ladder on the embedded corpus, checkpointed at token budgets, cached."""

import contextlib
import functools
import hashlib
import json
import math
import multiprocessing
import queue
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import torch
from jsonargparse import ActionConfigFile, ArgumentParser
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import AutoTokenizer, LlamaForCausalLM

from ftscale.backbones.params import parameter_counts
from ftscale.configs import config_path
from ftscale.datamodules import PretrainCorpus, world_tokenizer
from ftscale.datamodules.cache import cache_dir
from ftscale.errors import InputError, MissingFileError
from ftscale.ladder.shapes import LADDER, ladder_config
from ftscale.ladder.token_budget import TokenBudgetCheckpoint
from ftscale.lightning_modules import FullFinetune

MANIFEST = "manifest.json"
DEFAULT_BUDGETS = (262144, 524288, 1048576, 2097152)
RECIPE = "constant-lr-v2"  # part of the cache key: bump when the pretraining recipe changes


@dataclass
class PretrainConfig:
    """How the ladder is pretrained.

    Args:
        sizes: Ladder sizes to pretrain (see `ladder.shapes.LADDER`).
        token_budgets: Pretraining tokens at which every size saves a checkpoint (also `tokens-0`, the random
            init); each a multiple of seq_len * batch_size. Default (when tokens_per_parameter is not set either):
            262,144 to 2,097,152.
        tokens_per_parameter: Instead of token_budgets, checkpoints at these multiples of each size's
            non-embedding parameters (rounded up to whole steps), so every size is trained alike per parameter;
            a mapping gives each size its own list (e.g. more checkpoints for the size of a pretraining axis).
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
    token_budgets: list[int] | None = None
    tokens_per_parameter: list[float] | dict[str, list[float]] | None = None
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
            raise InputError(f"pretrain sizes {unknown or '[]'} invalid; expected names from {sorted(LADDER)}")
        if self.tokens_per_parameter is not None:
            if self.token_budgets is not None:
                raise InputError("pretrain: set token_budgets or tokens_per_parameter, not both")
            self._check_ratios()
            return
        if self.token_budgets is None:
            self.token_budgets = list(DEFAULT_BUDGETS)
        step = self.step_tokens
        bad = [b for b in self.token_budgets if b <= 0 or b % step]
        if not self.token_budgets or bad:
            raise InputError(
                f"pretrain token_budgets {bad or '[]'} invalid; each must be a positive multiple of "
                f"seq_len * batch_size = {step}"
            )

    def _check_ratios(self) -> None:
        ratios = self.tokens_per_parameter
        if isinstance(ratios, dict):
            missing = [s for s in self.sizes if s not in ratios]
            unknown = [s for s in ratios if s not in LADDER]
            if missing or unknown:
                raise InputError(
                    f"pretrain tokens_per_parameter: expected a list for every size, or a mapping with an entry for "
                    f"each of {self.sizes} (ladder sizes only); missing {missing}, unknown {unknown}"
                )
        for size in self.sizes:
            values = ratios[size] if isinstance(ratios, dict) else ratios
            if not values or any(r <= 0 for r in values):
                raise InputError(f"pretrain tokens_per_parameter of {size}: expected positive numbers, got {values}")
            budgets = [self.tokens_at(size, r) for r in values]
            if len(set(budgets)) < len(budgets):
                raise InputError(
                    f"pretrain tokens_per_parameter of {size}: {values} give the budgets {budgets}, not distinct "
                    f"after rounding up to whole steps of {self.step_tokens} tokens"
                )

    @property
    def step_tokens(self) -> int:
        """Tokens of one pretraining step (every budget is a multiple of it)."""
        return self.seq_len * self.batch_size

    def non_embedding_params(self, size: str) -> int:
        """Non-embedding parameters of ladder model `size` (the X of the model-size axis)."""
        return _non_embedding_params(size)

    def tokens_at(self, size: str, tokens_per_parameter: float) -> int:
        """The budget of `tokens_per_parameter` x the non-embedding parameters of `size`, up to whole steps."""
        step = self.step_tokens
        return math.ceil(tokens_per_parameter * self.non_embedding_params(size) / step) * step

    def budgets(self, size: str) -> list[int]:
        """The token budgets `size` is checkpointed at, ascending (random init `tokens-0` aside)."""
        ratios = self.tokens_per_parameter
        if ratios is None:
            return sorted(self.token_budgets)
        return sorted(self.tokens_at(size, r) for r in (ratios[size] if isinstance(ratios, dict) else ratios))

    @property
    def key(self) -> str:
        """Cache key of everything but `sizes`, so adding a size to a ladder reuses the others."""
        # tokens_per_parameter left out when unset, so ladders of fixed budgets keep their earlier key (and cache).
        fields = {k: v for k, v in asdict(self).items() if k != "sizes" and v is not None} | {"recipe": RECIPE}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def size_dir(self, size: str) -> Path:
        return cache_dir("ladder", self.key, size)

    def checkpoint_dir(self, size: str, tokens: int | None = None) -> Path:
        """Directory of the `size` checkpoint after `tokens` pretraining tokens (None: its largest budget)."""
        budgets = self.budgets(size)
        tokens = budgets[-1] if tokens is None else tokens
        if tokens != 0 and tokens not in budgets:
            raise InputError(f"no checkpoint of {size} at {tokens} tokens; its budgets are 0 and {budgets}")
        return self.size_dir(size) / f"tokens-{tokens}"


@functools.cache
def _non_embedding_params(size: str) -> int:
    # Counted on the meta device; the vocabulary and token ids do not change the non-embedding count.
    return parameter_counts(ladder_config(size, 1024, 1024, 1, 2, 0)).non_embedding


def config_parser() -> ArgumentParser:
    """The typed reader of pretraining config files (jsonargparse checks every field against PretrainConfig)."""
    parser = ArgumentParser(prog="ftscale pretrain", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_class_arguments(PretrainConfig)
    return parser


def load_pretrain_config(path: str | Path) -> PretrainConfig:
    """Read a pretraining config file (`configs/pretrain/*.yaml`)."""
    if not config_path(path).is_file():
        raise MissingFileError(f"ladder config {str(path)!r} does not exist")
    try:
        cfg = config_parser().parse_args(["--config", str(config_path(path))])
    except Exception as error:  # jsonargparse's errors: bad YAML, unknown or mistyped fields
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"{path}: not a valid pretraining config ({reason})") from None
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
            task = progress.add_task(", ".join(todo), total=sum(config.budgets(s)[-1] for s in todo))
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
    # Spawned, not forked (torch threads); the costliest sizes first (parameters x tokens), so the longest run
    # starts at once.
    context = multiprocessing.get_context("spawn")
    tokens = context.Queue()
    order = sorted(sizes, key=lambda s: -config.non_embedding_params(s) * config.budgets(s)[-1])
    # The workers ignore Ctrl-C (inherited while they are spawned, at submit): this process stops them instead,
    # so that an interrupt prints no traceback of theirs.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pool = ProcessPoolExecutor(workers, context, initializer=_pretrain_worker, initargs=(tokens, *setup))
        futures = [pool.submit(_pretrain_size, config, size, tokenizer_dir, None) for size in order]
    finally:
        signal.signal(signal.SIGINT, previous)
    with pool:
        try:
            while not all(future.done() for future in futures):
                with contextlib.suppress(queue.Empty):
                    advance(tokens.get(timeout=0.2))
        except KeyboardInterrupt:  # a size half pretrained has no manifest: it is pretrained anew next time
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in multiprocessing.active_children():  # the pool's: the only children while pretraining
                worker.kill()
            raise
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
        num_tokens=config.budgets(size)[-1],
        seq_len=config.seq_len,
        batch_size=config.batch_size,
        val_tokens=config.val_tokens,
    )
    module = pretraining_module(config, init_dir)
    on_tokens = on_tokens or _TOKENS.put
    budgets = TokenBudgetCheckpoint(config.budgets(size), lambda t: config.checkpoint_dir(size, t), on_tokens)
    trainer = _trainer(
        max_steps=config.budgets(size)[-1] // config.step_tokens,
        callbacks=[budgets],
        limit_val_batches=0,
    )
    trainer.fit(module, data)

    checkpoints = []
    for tokens in [0, *config.budgets(size)]:
        path = config.checkpoint_dir(size, tokens)
        (metrics,) = _trainer().validate(FullFinetune(backbone=str(path)), data, verbose=False)
        checkpoints.append(
            {
                "tokens": tokens,
                "tokens_per_parameter": round(tokens / config.non_embedding_params(size), 3),
                "path": str(path),
                "val_loss": metrics["val/loss"],
            }
        )
    manifest = {
        "size": size,
        "total_params": model.num_parameters(),
        "non_embedding_params": config.non_embedding_params(size),
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
