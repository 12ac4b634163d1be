"""Lin et al. 2024 real finetuning curves: the joint rectified law extrapolates better than the paper's."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, RECTIFIED_JOINT
from ftscale.scaling_laws.external import lin2024, model_family
from ftscale.scaling_laws.fitter import fit_points


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("facebook/opt-1.3b", "opt"),
        ("gpt2-xl", "gpt2"),
        ("gpt2", "gpt2"),
        ("cerebras/Cerebras-GPT-111M", "cerebras-gpt"),
        ("MBZUAI/LaMini-GPT-1.5B", "lamini-gpt"),
        ("google/switch-base-16", "switch"),
        ("microsoft/phi-1_5", "phi"),
        ("facebook/bart-large-cnn", "bart-cnn"),
        ("google/t5-v1_1-base", "t5-v1_1"),
    ],
)
def test_model_family(name, family):
    assert model_family(name) == family


def test_families_and_columns(lin2024_data):
    fams = lin2024(lin2024_data, "wmt19")
    assert set(fams) == {"cerebras-gpt", "gpt2", "lamini-gpt", "opt", "switch"}
    for pts in fams.values():
        assert pts.df.min() == 200 and pts.df.max() == 1_638_400  # column 0 excluded
        assert len(np.unique(pts.df)) == 14 and len(np.unique(pts.x)) >= 3


@pytest.mark.parametrize("dataset", ["wmt19", "gigaword", "flan"])
def test_rectified_joint_beats_multiplicative_on_held_out(lin2024_data, dataset):
    # Claim in docs/scaling_laws.md: on every dataset the family-mean Delta_h of the joint rectified
    # law is at least 10% below the paper's multiplicative law (measured: 17-45% lower).
    dh = {form.name: [] for form in (MULTIPLICATIVE, RECTIFIED_JOINT)}
    for pts in lin2024(lin2024_data, dataset).values():
        for form in (MULTIPLICATIVE, RECTIFIED_JOINT):
            dh[form.name].append(fit_points(form, pts, held_out=["x=max", "df=max"]).delta_h)
    assert np.mean(dh["rectified-joint"]) < 0.9 * np.mean(dh["multiplicative"]), dh
