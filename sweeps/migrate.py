"""`ftscale sweep migrate SRC DST`: copy one sweep's store between backends (SQLite to PostgreSQL and back)."""

from pathlib import Path

from ftscale.errors import InputError
from ftscale.sweeps.store import open_store


def migrate(src_url: str | Path, dst_url: str | Path) -> int:
    """Copy the sweep of SRC (every point with its status, metrics, error and attempts; its completion and uid) to DST.

    Returns how many points were copied; DST then equals SRC. A PostgreSQL SRC names its sweep (`?sweep=NAME`).
    ValueError (nothing written) if DST is the store of another spec or holds other points of the sweep.
    """
    source = open_store(src_url, create=False)
    if not source.sweep:
        raise InputError(
            f"{source.backend.shown} holds a sweep from before stores recorded their spec: name it by adding "
            "?sweep=NAME (the spec's name) to SRC, as in sqlite:///PATH?sweep=NAME"
        )
    target = open_store(dst_url, sweep=source.sweep)
    return target.restore(source.snapshot(), source.backend.shown)
