"""Form selection: fit several forms on the same points and choose one by cross-validation on the fitted
points (scaling_laws.crossval); the held-out points only score the forms afterwards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ftscale.scaling_laws.crossval import Choice, choose
from ftscale.scaling_laws.fitter import fit_points
from ftscale.scaling_laws.forms import FORMS, LawForm
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.points import Points, as_points, group_cells
from ftscale.scaling_laws.result import FitResult

CHOSEN_LABEL = "chosen by cross-validation on the fitted points"
DIAGNOSTIC_LABEL = "diagnostic: ranked on the held-out points (not used to choose)"


@dataclass
class Comparison:
    """Forms fitted on the same points, best first as `ranked_by` says; the first is the chosen one.

    `cv[i]` is the cross-validation record of `fits[i]` (its name is the form's label). `held_out_ranking`
    ranks the same forms by Delta_h: a diagnostic only, never used to choose.
    """

    fits: list[FitResult]
    ranked_by: str  # "cross-validation"; "delta_e" when no fold could be formed; "delta_h" in files before it
    cv: list[Choice] = field(default_factory=list)
    folds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # folds not formed, and why
    held_out_ranking: list[str] = field(default_factory=list)  # form labels, lowest Delta_h first

    @property
    def winner(self) -> FitResult:
        """The chosen fit (first)."""
        return self.fits[0]

    def to_json(self) -> str:
        """JSON text with the choice, its cross-validation scores, the diagnostic ranking and every fit."""
        data = {
            "ranked_by": self.ranked_by,
            "chosen": self.cv[0].name if self.cv else self.winner.law,
            "winner": self.winner.law,
            "cv": [asdict(c) for c in self.cv],
            "folds": self.folds,
            "notes": self.notes,
            "held_out_ranking": {"label": DIAGNOSTIC_LABEL, "forms": self.held_out_ranking},
            "fits": [f.to_dict() for f in self.fits],
        }
        return json.dumps(data, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Comparison:
        """Inverse of to_json; also reads files written before cross-validation (ranked by delta_h)."""
        data = json.loads(text)
        return cls(
            [FitResult.from_dict(f) for f in data["fits"]],
            data["ranked_by"],
            [Choice(**c) for c in data.get("cv", [])],
            data.get("folds", []),
            data.get("notes", []),
            data.get("held_out_ranking", {}).get("forms", []),
        )


def compare_forms(
    x,
    df,
    loss,
    forms: Sequence[LawForm] | None = None,
    *,
    groups=None,
    held_out: Sequence[str] | np.ndarray | None = None,
    **fit_kw,
) -> Comparison:
    """Fit each form (all registered ones by default) and choose one by cross-validation; see `fit` for the
    options."""
    return compare_points(as_points(x, df, loss, groups=groups), forms, held_out=held_out, **fit_kw)


def compare_points(
    points: Points,
    forms: Sequence[LawForm] | None = None,
    *,
    held_out: Sequence[str] | np.ndarray | None = None,
    **fit_kw,
) -> Comparison:
    """`compare_forms` on validated points; joint forms are skipped when the points have no X. The choice
    reads only the fitted points: the held-out losses give each fit's Delta_h and the diagnostic ranking."""
    chosen = [f for f in forms or FORMS.values() if points.x is not None or not f.uses_x]
    rules = [] if held_out is None or isinstance(held_out, np.ndarray) else list(held_out)
    mask = held_out_mask(points, held_out)
    if points.groups is not None:  # folds and refits work on the cell means
        cells = group_cells(points)
        mask, points = cells.cell_mask(mask), cells.points
        noise = {"noise_floor": cells.noise_floor(), "n_groups": len(cells.groups)}
    else:
        noise = {}

    def option(form: LawForm):
        def fit_fn(leave_out: dict[str, np.ndarray]) -> dict[str, FitResult]:
            # Every fold is a fresh fit, as a user fitting those points gets. Fold refits warm-started from the fit
            # on all fitted points (fewer starts) cost a third as much and reached the same objectives, but where
            # almost every residual is on Huber's linear part (a single-factor form across several X) the optimum
            # is not unique, as in L1 regression: the end point, and the fold's error, then follow the start, and
            # that changed the chosen form in 3 of Lin et al.'s 15 families.
            r = fit_points(form, points, held_out=leave_out[""], **fit_kw)
            return {"": replace(r, held_out=rules, **noise)}

        return fit_fn

    selection = choose({f.label: option(f) for f in chosen}, {"": points}, {"": mask})
    fits = [selection.fits[c.name][""] for c in selection.ranking]
    by_delta_h = sorted(
        (c.name for c, f in zip(selection.ranking, fits, strict=True) if f.delta_h is not None),
        key=lambda name: (not selection.fits[name][""].converged, selection.fits[name][""].delta_h),
    )
    return Comparison(fits, selection.ranked_by, selection.ranking, selection.folds, selection.notes, by_delta_h)
