"""`ftscale pretrain`: pretrain the built-in ladder on the embedded corpus, checkpointed at token budgets, cached."""

from __future__ import annotations

from dataclasses import replace

from ftscale.datamodules.cache import cache_dir
from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder


def pretrain(*, config: str = "configs/pretrain/ladder.yaml", sizes: list[str] | None = None) -> int:
    """Pretrain the built-in ladder on the embedded corpus, saving a Hugging Face checkpoint at every token budget.

    Cached, so a rerun does no work.

    Args:
        config: the pretraining config
        sizes: pretrain only these sizes of the config (e.g. xs s)
    """
    ladder = load_pretrain_config(config)
    if sizes:
        ladder = replace(ladder, sizes=sizes)
    for size, manifest in pretrain_ladder(ladder).items():
        losses = ", ".join(f"{c['tokens']}: {c['val_loss']:.3f}" for c in manifest["checkpoints"])
        print(f"{size} ({manifest['non_embedding_params']:,} non-embedding params) val loss by tokens: {losses}")
    print(f"checkpoints under {cache_dir('ladder', ladder.key)}")
    return 0
