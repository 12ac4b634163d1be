"""Form selection: fit several forms on the same points and rank them by held-out error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.fitter import fit_points
from ftscale.scaling_laws.forms import FORMS, LawForm
from ftscale.scaling_laws.points import Points, as_points
from ftscale.scaling_laws.result import FitResult


@dataclass
class Comparison:
    """Fits ranked best first by `ranked_by` (delta_h, or delta_e when nothing is held out)."""

    fits: list[FitResult]
    ranked_by: str

    @property
    def winner(self) -> FitResult:
        """The best-ranked fit."""
        return self.fits[0]

    def to_json(self) -> str:
        """JSON text with the ranking, the winner's law and every fit."""
        data = {"ranked_by": self.ranked_by, "winner": self.winner.law, "fits": [f.to_dict() for f in self.fits]}
        return json.dumps(data, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Comparison:
        """Inverse of to_json."""
        data = json.loads(text)
        return cls([FitResult.from_dict(f) for f in data["fits"]], data["ranked_by"])


def compare_forms(
    x,
    df,
    loss,
    forms: Sequence[LawForm] | None = None,
    *,
    held_out: Sequence[str] | np.ndarray | None = None,
    **fit_kw,
) -> Comparison:
    """Fit each form (all registered ones by default) and rank them; see `fit` for the options."""
    return compare_points(as_points(x, df, loss), forms, held_out=held_out, **fit_kw)


def compare_points(
    points: Points,
    forms: Sequence[LawForm] | None = None,
    *,
    held_out: Sequence[str] | np.ndarray | None = None,
    **fit_kw,
) -> Comparison:
    """`compare_forms` on validated points; joint forms are skipped when the points have no X."""
    chosen = [f for f in forms or FORMS.values() if points.x is not None or not f.uses_x]
    fits = [fit_points(f, points, held_out=held_out, **fit_kw) for f in chosen]
    key = "delta_h" if fits[0].n_held_out else "delta_e"
    # Non-converged fits rank after converged ones: their errors are not trustworthy optima.
    fits.sort(key=lambda f: (not f.converged, getattr(f, key)))
    return Comparison(fits, key)
