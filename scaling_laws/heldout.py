"""Held-out selection by rule (`x=max`, `df=max`, `x=1e8`, `row=3`) and the fit-quality metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.forms import LawForm
from ftscale.scaling_laws.points import Points

RULE_HELP = (
    "KEY=VALUE with KEY one of x, df (or their column names) and VALUE max, min or numbers "
    "separated by commas (x=max, df=max, x=1e8,2e8); or row=I,J for 0-based data rows"
)


def held_out_mask(points: Points, rules: Sequence[str] | np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the held-out points: the union of what each rule selects (a boolean mask is checked
    and copied)."""
    if isinstance(rules, np.ndarray):
        if rules.dtype != bool or rules.shape != (len(points),):
            raise ScalingLawError(f"a held-out mask must be {len(points)} booleans, got {rules.dtype} {rules.shape}")
        return rules.copy()
    mask = np.zeros(len(points), dtype=bool)
    for rule in rules or ():
        mask |= _select(points, rule)
    return mask


def _select(points: Points, rule: str) -> np.ndarray:
    key, sep, value = (s.strip() for s in rule.partition("="))
    if not sep or not value:
        raise ScalingLawError(f"held-out rule {rule!r} is not {RULE_HELP}")
    if key == "row":
        rows = _numbers(rule, value)
        if any(r != int(r) or not 0 <= r < len(points) for r in rows):
            raise ScalingLawError(f"held-out rule {rule!r}: rows must be integers in [0, {len(points) - 1}]")
        mask = np.zeros(len(points), dtype=bool)
        mask[[int(r) for r in rows]] = True
        return mask
    columns = {"x": points.x, points.names[0]: points.x, "df": points.df, points.names[1]: points.df}
    if key not in columns or columns[key] is None:
        raise ScalingLawError(f"held-out rule {rule!r}: unknown key {key!r}; use {RULE_HELP}")
    col = columns[key]
    if value in ("max", "min"):
        return col == (col.max() if value == "max" else col.min())
    mask = np.zeros(len(points), dtype=bool)
    for v in _numbers(rule, value):
        hit = np.isclose(col, v, rtol=1e-9, atol=0.0)
        if not hit.any():
            raise ScalingLawError(f"held-out rule {rule!r}: no point has {key} = {v:g}")
        mask |= hit
    return mask


def _numbers(rule: str, value: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise ScalingLawError(f"held-out rule {rule!r} is not {RULE_HELP}") from None


def mean_abs_deviation(form: LawForm, params: Mapping[str, float], points: Points, mask: np.ndarray) -> float | None:
    """Mean |L - L_hat| over the masked points (Delta_e on fitted, Delta_h on held-out); None if empty."""
    if not mask.any():
        return None
    x = None if points.x is None else points.x[mask]
    return float(np.mean(np.abs(points.loss[mask] - form.predict(params, x, points.df[mask]))))
