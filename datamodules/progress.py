"""`datasets`' progress bars, shown only for work long enough to watch (a sweep of small points stays quiet)."""

from collections.abc import Iterator
from contextlib import contextmanager

import datasets

LONG_ROWS = 50_000  # examples from which reading or tokenizing takes long enough to show progress


@contextmanager
def progress_bars(rows: int) -> Iterator[None]:
    """Within the block, `datasets` shows progress bars only for `rows` >= LONG_ROWS (and if they were enabled)."""
    hidden = datasets.are_progress_bars_disabled()
    if rows < LONG_ROWS:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not hidden:
            datasets.enable_progress_bars()
