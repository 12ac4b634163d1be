"""Backbone specs: a hub id, a local directory, or `ladder:<size>[@<tokens>]` for the built-in ladder."""

from dataclasses import replace
from pathlib import Path

from ftscale.backbones.loading import locate
from ftscale.errors import InputError
from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder

LADDER_PREFIX = "ladder:"


def resolve_backbone(spec: str, ladder_config: str | Path) -> str:
    """Return a loadable name or path for `spec`, pretraining the ladder of `ladder_config` if needed."""
    if not spec.startswith(LADDER_PREFIX):
        return locate(spec)
    size, _, tokens = spec.removeprefix(LADDER_PREFIX).partition("@")
    config = load_pretrain_config(ladder_config)
    if size not in config.sizes:
        raise InputError(f"model.backbone={spec!r}: size {size!r} is not in {ladder_config} (sizes: {config.sizes})")
    if tokens and not tokens.isdigit():
        raise InputError(f"model.backbone={spec!r}: expected ladder:<size>@<tokens> with an integer token count")
    path = config.checkpoint_dir(size, int(tokens) if tokens else None)
    pretrain_ladder(replace(config, sizes=[size]))  # only the size asked for
    return str(path)
