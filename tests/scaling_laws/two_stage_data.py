"""Synthetic two-stage series: factors sharing beta and E, each law's power term equal to E mid-grid."""

from __future__ import annotations

import numpy as np

from ftscale.scaling_laws import MULTIPLICATIVE, Points, as_points

SHARED = {"beta": 0.15, "E": 1.0}
ALPHA = {"model": 0.35, "pretrain": 0.15, "pet": 0.02}
XS = {"model": np.geomspace(1e6, 6.4e7, 4), "pretrain": np.geomspace(2.5e5, 4e6, 4), "pet": np.geomspace(5, 40, 4)}
DF = np.geomspace(40, 1280, 6)


def law(factor: str) -> dict[str, float]:
    """The true law of one factor: A set so that A X^-alpha Df^-beta = E at the grid's log-centre."""
    alpha = ALPHA[factor]
    a = SHARED["E"] * np.exp(np.log(XS[factor]).mean() * alpha + np.log(DF).mean() * SHARED["beta"])
    return {"A": float(a), "alpha": alpha, **SHARED}


def two_stage_series(seed: int, factors=("model", "pretrain"), noise: float = 0.01) -> dict[str, Points]:
    """Each factor's X x Df grid with multiplicative Gaussian noise of relative size `noise`."""
    rng = np.random.default_rng(seed)
    out = {}
    for factor in factors:
        xx, dd = (v.ravel() for v in np.meshgrid(XS[factor], DF, indexing="ij"))
        clean = MULTIPLICATIVE.predict(law(factor), xx, dd)
        out[factor] = as_points(xx, dd, clean * (1 + noise * rng.standard_normal(clean.size)))
    return out


def seeded_series(
    seed: int, n_groups: int, *, seed_sd: float = 0.02, noise: float = 0.005, factors=("model", "pretrain")
) -> dict[str, Points]:
    """Every factor's grid measured once per group (a seed): each seed scales ALL its points, in every factor,
    by the same 1 + N(0, seed_sd) (a correlated offset), on top of independent noise of relative size `noise`."""
    rng = np.random.default_rng(seed)
    offsets = seed_sd * rng.standard_normal(n_groups)
    out = {}
    for factor in factors:
        xx, dd = (v.ravel() for v in np.meshgrid(XS[factor], DF, indexing="ij"))
        clean = MULTIPLICATIVE.predict(law(factor), xx, dd)
        loss = np.concatenate([clean * (1 + o + noise * rng.standard_normal(clean.size)) for o in offsets])
        groups = np.repeat(np.arange(n_groups), clean.size)
        out[factor] = as_points(np.tile(xx, n_groups), np.tile(dd, n_groups), loss, groups=groups)
    return out
