"""Shared fixtures: the published data copied into the project and synthetic law data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftscale.scaling_laws.forms import LawForm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def external() -> Path:
    """The published pretraining data sets (Chinchilla, Gemstones, datablations), one folder each."""
    return ROOT / "tests" / "fixtures" / "published"


@pytest.fixture(scope="session")
def lin2024_data() -> Path:
    """Lin et al. 2024's finetuning CSVs (shared with the benchmarks)."""
    return ROOT / "benchmarks" / "data" / "lin2024"


def synthetic(
    form: LawForm, params: dict[str, float], x: np.ndarray, df: np.ndarray, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the full X x Df grid with multiplicative Gaussian noise of relative size `noise`."""
    xx, dd = (a.ravel() for a in np.meshgrid(x, df, indexing="ij"))
    clean = form.predict(params, xx, dd)
    rng = np.random.default_rng(seed)
    return xx, dd, clean * (1 + noise * rng.standard_normal(clean.size))
