"""The configs that ship with ftscale (installed as package data, `ftscale.configs`), and the one rule that finds them.

The folder stays at the top of the repository, so the README's `configs/...` paths work from a checkout; an
installed ftscale finds the same paths in its own copy from any working directory.
"""

from __future__ import annotations

from pathlib import Path

INSTALLED = Path(__file__).resolve().parent
PREFIX = "configs"


def config_path(path: str | Path) -> Path:
    """Where a config path the user gave is read from: the path itself when it exists (relative to the working
    directory, or absolute); else a relative `configs/...` path names ftscale's installed copy. A path found in
    neither place is returned as given, so the caller's error names it as the user wrote it."""
    given = Path(path)
    if given.exists() or given.is_absolute() or given.parts[:1] != (PREFIX,):
        return given
    installed = INSTALLED.joinpath(*given.parts[1:])
    return installed if installed.exists() else given
