"""Bootstrap draws: which fitted cells each resample takes, and, with groups, which groups make its cell means.

Without groups a resample draws as many fitted points as there are, with replacement (a multinomial count
per point). With groups (replicates such as seeds, rows sharing X and Df) a resample first draws G whole
groups with replacement, the same draw for every cell and every series (a seed's offsets, common to all its
points, move together), recomputes each cell's mean from the drawn groups, then draws the cells as above.
With one group this is the point bootstrap. Held-out cells are never drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.points import Cells, Points

MAX_REDRAW_ROUNDS = 1000


@dataclass(frozen=True)
class Draws:
    """Per series, each resample's multiplicity of every cell and every cell's loss in that resample."""

    weights: dict[str, np.ndarray]  # series -> (n, n_cells) counts; 0 for held-out cells
    losses: dict[str, np.ndarray]  # series -> (n, n_cells) cell means of the drawn groups (the data's without)
    redrawn: int  # draws replaced because they left a series one distinct X or Df

    def rows(self, rows: np.ndarray) -> Draws:
        """The draws of a subset of the resamples."""
        return Draws({g: w[rows] for g, w in self.weights.items()}, {g: v[rows] for g, v in self.losses.items()}, 0)


def draw(
    series: Mapping[str, Points],
    held: Mapping[str, np.ndarray],
    cells: Mapping[str, Cells | None],
    *,
    n: int,
    seed: int,
    uses_x: bool = True,
) -> Draws:
    """n resamples of every series' fitted cells from `seed` (groups first, then the series in order).

    series: the points actually fitted (cell means for grouped data); held: each one's held-out mask; cells:
    each one's `Cells` (None when ungrouped). A draw that leaves some series a single distinct Df (or X, when
    the law uses X) cannot identify its law and is drawn again (counted in `redrawn`); so is a resample in
    which a cell no drawn group measured would be drawn (it has no mean).
    """
    rng = np.random.default_rng(seed)
    fitted = {g: np.flatnonzero(~held[g]) for g in series}
    groups = np.unique(np.concatenate([c.groups for c in cells.values() if c is not None] or [np.array([])]))
    weights = {g: np.zeros((n, len(pts))) for g, pts in series.items()}
    losses = {g: np.tile(pts.loss, (n, 1)) for g, pts in series.items()}
    todo, redrawn = np.arange(n), 0
    for _ in range(MAX_REDRAW_ROUNDS):
        picked = np.ones((todo.size, 1))  # one group: always drawn, so no random draw (the point bootstrap)
        if groups.size > 1:
            picked = rng.multinomial(len(groups), np.full(len(groups), 1 / len(groups)), todo.size)
        bad = np.zeros(todo.size, bool)
        for g, pts in series.items():
            m = len(fitted[g])
            counts = np.zeros((todo.size, len(pts)))
            counts[:, fitted[g]] = rng.multinomial(m, np.full(m, 1 / m), todo.size)
            if cells.get(g) is not None:
                columns = np.searchsorted(groups, cells[g].groups)
                losses[g][todo], defined = cells[g].resampled_losses(picked[:, columns])
                bad |= ((counts > 0) & ~defined).any(axis=1)
            weights[g][todo] = counts
            bad |= _single_value(counts, pts.df)
            if uses_x and pts.x is not None:
                bad |= _single_value(counts, pts.x)
        todo = todo[bad]
        if not todo.size:
            return Draws(weights, losses, redrawn)
        redrawn += todo.size
    raise ScalingLawError(f"bootstrap: {todo.size} resample(s) kept one distinct X or Df after redrawing")


def _single_value(counts: np.ndarray, column: np.ndarray) -> np.ndarray:
    values = np.unique(column)
    present = np.stack([(counts[:, column == v] > 0).any(axis=1) for v in values], axis=1)
    return present.sum(axis=1) < 2
