"""Measurements as validated arrays: every value finite and positive, errors naming where; replicates
(rows of several groups, e.g. seeds, at the same X and Df) reduced to one mean per cell."""

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
    groups: np.ndarray | None = None  # replicate id (a seed) of each row: rows sharing X and Df are replicates
    group_name: str = "group"  # column of the groups, for messages

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
    groups=None,
    group_name: str = "group",
) -> Points:
    """Check and convert X (or None), Df and loss to float arrays; ScalingLawError on bad values.

    groups: optional replicate id per row (a seed; any values, compared as text); rows sharing (X, Df) are
    then replicates of one cell, fitted as their mean and resampled by group (see `group_cells`).
    """
    cols = [None if x is None else _column(x, names[0], source, lines)]
    cols += [_column(v, n, source, lines) for v, n in ((df, names[1]), (loss, names[2]))]
    sizes = {len(c) for c in cols if c is not None}
    if groups is not None:
        groups = np.array([str(g) for g in groups])
        sizes.add(len(groups))
    if len(sizes) != 1:
        named = [*names, group_name] if groups is not None else list(names)
        raise ScalingLawError(f"{source}: columns {named} have different lengths {sorted(sizes)}")
    return Points(cols[0], cols[1], cols[2], source, names, lines, groups, group_name)


@dataclass(frozen=True)
class Cells:
    """Grouped points reduced to one point per (X, Df) cell, its loss the mean over the cell's groups."""

    points: Points  # one row per cell (no groups), in (X, Df) order
    of_row: np.ndarray  # (n_rows,) the cell of each input row
    groups: np.ndarray  # (G,) the distinct group ids, sorted
    table: np.ndarray  # (n_cells, G) each cell's loss in each group; NaN where a group lacks the cell

    def cell_mask(self, row_mask: np.ndarray, what: str = "held-out rule") -> np.ndarray:
        """A mask over cells from one over rows; ScalingLawError when it splits a cell's replicates."""
        hits = np.bincount(self.of_row, weights=row_mask.astype(float), minlength=len(self.points))
        sizes = np.bincount(self.of_row, minlength=len(self.points))
        split = np.flatnonzero((hits > 0) & (hits < sizes))
        if split.size:
            raise ScalingLawError(
                f"{self.points.source}: the {what} selects some replicates of the cell at "
                f"{_where(self.points, int(split[0]))} but not the others; select whole cells"
            )
        return hits > 0

    def standard_errors(self) -> np.ndarray:
        """Per cell, the between-group standard error of its mean loss (NaN with fewer than 2 groups)."""
        present = np.isfinite(self.table)
        count = present.sum(axis=1)
        mean = np.where(present, self.table, 0.0).sum(axis=1) / np.maximum(count, 1)
        squares = np.where(present, (self.table - mean[:, None]) ** 2, 0.0).sum(axis=1)
        enough = count >= 2
        return np.where(enough, np.sqrt(squares / np.maximum(count - 1, 1) / np.maximum(count, 1)), np.nan)

    def noise_floor(self) -> float | None:
        """Mean over the cells with two or more groups of their standard errors; None when none has two."""
        se = self.standard_errors()
        return float(np.mean(se[np.isfinite(se)])) if np.isfinite(se).any() else None

    def resampled_losses(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell means (K, n_cells) under K draws of the groups (counts (K, G): how often each group was drawn),
        and whether each cell had a drawn group at all (a cell no drawn group measured has no mean)."""
        present = np.isfinite(self.table)
        values = np.where(present, self.table, 0.0)
        total = counts @ values.T  # (K, n_cells)
        weight = counts @ present.T.astype(float)
        defined = weight > 0
        means = np.where(defined, total / np.where(defined, weight, 1.0), self.points.loss)
        return means, defined


def group_cells(points: Points) -> Cells:
    """Reduce grouped points to cell means; ScalingLawError when a group has two rows in one cell."""
    if points.groups is None:
        raise ScalingLawError(f"{points.source}: these points have no groups")
    x = points.x if points.x is not None else np.ones(len(points))
    keys, of_row = np.unique(np.stack([x, points.df]), axis=1, return_inverse=True)
    of_row = of_row.ravel()
    groups, group_of_row = np.unique(points.groups, return_inverse=True)
    table = np.full((keys.shape[1], len(groups)), np.nan)
    slot = of_row * len(groups) + group_of_row.ravel()
    order = np.argsort(slot, kind="stable")
    repeated = np.flatnonzero(np.diff(slot[order]) == 0)
    if repeated.size:
        row = int(order[repeated[0] + 1])
        raise ScalingLawError(
            f"{points.source}: {_where(points, row)} repeats {points.group_name} '{points.groups[row]}' at the same "
            f"{points.names[0]} and {points.names[1]}; each {points.group_name} may measure a cell once"
        )
    table.ravel()[slot] = points.loss
    first_line = None
    if points.lines is not None:
        first_line = np.array([points.lines[np.flatnonzero(of_row == c)[0]] for c in range(keys.shape[1])])
    means = np.nanmean(table, axis=1)
    cell_points = Points(None if points.x is None else keys[0], keys[1], means, points.source, points.names, first_line)
    return Cells(cell_points, of_row, groups, table)


def _where(points: Points, i: int) -> str:
    if points.lines is not None:
        return f"line {int(points.lines[i])}"
    x = "" if points.x is None else f"{points.names[0]} = {points.x[i]:g}, "
    return f"{x}{points.names[1]} = {points.df[i]:g}"


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
