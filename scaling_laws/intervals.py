"""Percentile intervals of bootstrap samples."""

from __future__ import annotations

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError


def percentile_interval(samples, level: float) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Central percentile interval (lo, hi) at `level` along the first axis (floats for 1-D samples).

    E.g. 0.95 gives the 2.5th and 97.5th percentiles (numpy's linear interpolation between samples).
    """
    if not 0 < level < 1:
        raise ScalingLawError(f"an interval's level must be in (0, 1), got {level}")
    values = np.asarray(samples, float)
    if values.ndim == 0 or len(values) == 0:
        raise ScalingLawError("a percentile interval needs at least one sample")
    q = 50 * (1 - level)
    lo, hi = np.percentile(values, [q, 100 - q], axis=0)
    return (float(lo), float(hi)) if values.ndim == 1 else (lo, hi)
