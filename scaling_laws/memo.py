"""Optima found once, reused: within a `shared_optima` block, `minimise` answers a search it has already made.

A sweep's analysis fits the same points from the same starts in several places: each sharing option's own fits of
an axis are also the form table's fits of that axis, and the chosen sharing's fit is again the bootstrap's point
fit. A search is keyed by a digest of everything it reads (the objective's points, weights, forms and loss, the
starts, box and options), so a hit returns exactly what the search would: the fitter is deterministic.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_active: dict[str, Any] | None = None  # the optima of the innermost open block, by digest


@contextmanager
def shared_optima(known: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Within the block, `minimise` reuses what it found before for identical input: in `known` (the optima
    another block yielded, e.g. in another process) or earlier in the block. Yields the block's optima by digest."""
    global _active
    outer, _active = _active, dict(known or {})
    try:
        yield _active
    finally:
        _active = outer


def active() -> dict[str, Any] | None:
    """The open block's optima (None outside any block: every search runs)."""
    return _active


def digest(*inputs: Any) -> str:
    """A digest of picklable inputs (numpy arrays by value)."""
    return hashlib.blake2b(pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL), digest_size=20).hexdigest()
