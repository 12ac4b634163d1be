"""Shared fixtures: the external published data (skipped when absent) and synthetic law data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftscale.scaling_laws.forms import LawForm

EXTERNAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "external"


@pytest.fixture(scope="session")
def external() -> Path:
    """The shared external-data folder next to the repository root."""
    if not (EXTERNAL / "README.md").exists():
        pytest.skip(f"published data not found at {EXTERNAL} (the shared/ folder next to the repo root)")
    return EXTERNAL


def synthetic(
    form: LawForm, params: dict[str, float], x: np.ndarray, df: np.ndarray, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the full X x Df grid with multiplicative Gaussian noise of relative size `noise`."""
    xx, dd = (a.ravel() for a in np.meshgrid(x, df, indexing="ij"))
    clean = form.predict(params, xx, dd)
    rng = np.random.default_rng(seed)
    return xx, dd, clean * (1 + noise * rng.standard_normal(clean.size))
