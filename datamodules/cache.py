"""Where ftscale keeps what it generates once and reuses: tokenizers, corpora, pretrained ladders."""

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) `$FTSCALE_CACHE/<parts>`, defaulting the root to `~/.cache/ftscale`."""
    root = Path(os.environ.get("FTSCALE_CACHE") or Path.home() / ".cache" / "ftscale")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
