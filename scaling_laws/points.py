"""Measurements as validated arrays: every value finite and positive, errors naming where."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError


@dataclass(frozen=True)
class Points:
    """Validated measurements (X is None when no X column was given)."""

    x: np.ndarray | None
    df: np.ndarray
    loss: np.ndarray
    source: str = "input"
    names: tuple[str, str, str] = ("x", "df", "loss")  # column names, for messages
    lines: np.ndarray | None = None  # 1-based source line of each point, for messages

    def __len__(self) -> int:
        return len(self.df)

    def log_x(self) -> np.ndarray:
        """log X, or zeros when there is no X (single-factor laws ignore it)."""
        return np.zeros_like(self.df) if self.x is None else np.log(self.x)


def _column(values, name: str, source: str, lines: np.ndarray | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ScalingLawError(f"{source}: column {name!r} is not numeric") from None
    if arr.ndim != 1:
        raise ScalingLawError(f"{source}: column {name!r} must be one-dimensional, got shape {arr.shape}")
    for test, what in ((np.isnan, "NaN"), (np.isinf, "infinite"), (lambda a: a <= 0, "not positive")):
        bad = np.flatnonzero(test(arr))
        if bad.size:
            i = int(bad[0])
            at = f"line {int(lines[i])}" if lines is not None else f"row {i}"
            more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
            raise ScalingLawError(
                f"{source}: column {name!r} is {what} at {at} (value {arr[i]!r}){more}; "
                "scaling laws need finite positive X, Df and loss"
            )
    return arr


def as_points(
    x,
    df,
    loss,
    *,
    source: str = "input",
    names: tuple[str, str, str] = ("x", "df", "loss"),
    lines: np.ndarray | None = None,
) -> Points:
    """Check and convert X (or None), Df and loss to float arrays; ScalingLawError on bad values."""
    cols = [None if x is None else _column(x, names[0], source, lines)]
    cols += [_column(v, n, source, lines) for v, n in ((df, names[1]), (loss, names[2]))]
    sizes = {len(c) for c in cols if c is not None}
    if len(sizes) != 1:
        raise ScalingLawError(f"{source}: columns {list(names)} have different lengths {sorted(sizes)}")
    return Points(cols[0], cols[1], cols[2], source, names, lines)


def check_fittable(points: Points, mask: np.ndarray, n_params: int, uses_x: bool, law: str) -> None:
    """Raise unless the masked points can identify a law with n_params parameters."""
    n = int(mask.sum())
    if n < n_params:
        raise ScalingLawError(
            f"{points.source}: {n} point(s) to fit the {law} law, which has {n_params} parameters; "
            f"need at least {n_params}"
        )
    if len(np.unique(points.df[mask])) < 2:
        raise ScalingLawError(f"{points.source}: a single distinct {points.names[1]} value; cannot fit beta")
    if uses_x and points.x is None:
        raise ScalingLawError(f"the {law} law is joint in X and Df: give an X column")
    if uses_x and len(np.unique(points.x[mask])) < 2:
        raise ScalingLawError(
            f"{points.source}: a single distinct {points.names[0]} value among the fitted points; "
            f"the joint {law} law needs at least two"
        )
