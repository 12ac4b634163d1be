"""Held-out comparison of every law form on Lin et al. 2024's real finetuning curves, as markdown.

Per dataset (wmt19, gigaword, flan) and model family (from the model id, see
ftscale.scaling_laws.external.model_family; families with >= 3 sizes), X = parameter count, Df = examples
200 ... 1,638,400 (column 0, before finetuning, excluded), held out = the largest model and the largest
Df. Delta_e / Delta_h = mean |L - L_hat| on fitted / held-out points.

    python benchmarks/lin2024_table.py [--data ../shared/data/external] > table.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ftscale.scaling_laws import FORMS
from ftscale.scaling_laws.external import lin2024
from ftscale.scaling_laws.fitter import fit_points

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "external"
DATASETS = ("wmt19", "gigaword", "flan")
HELD_OUT = ["x=max", "df=max"]


def evaluate(root: Path, dataset: str) -> dict[str, dict[str, tuple[float, float, bool]]]:
    """family -> form -> (Delta_e, Delta_h, converged)."""
    return {
        fam: {
            name: (r.delta_e, r.delta_h, r.converged)
            for name, form in FORMS.items()
            for r in [fit_points(form, pts, held_out=HELD_OUT)]
        }
        for fam, pts in lin2024(root, dataset).items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared external-data folder")
    root = ap.parse_args().data
    results = {ds: evaluate(root, ds) for ds in DATASETS}
    print("| dataset | form | mean Δe | mean Δh | families won (Δh) | unconverged fits |")
    print("|---|---|---|---|---|---|")
    for ds, fams in results.items():
        winners = [min(forms, key=lambda f: forms[f][1]) for forms in fams.values()]
        rows = sorted(FORMS, key=lambda f: np.mean([fams[fam][f][1] for fam in fams]))
        for i, f in enumerate(rows):
            de, dh = (np.mean([fams[fam][f][k] for fam in fams]) for k in (0, 1))
            bad = sum(not fams[fam][f][2] for fam in fams)
            name = f"**{f}**" if i == 0 else f
            print(f"| {ds} | {name} | {de:.4f} | {dh:.4f} | {winners.count(f)}/{len(fams)} | {bad} |")
    print()
    print("| dataset | family | " + " | ".join(f"Δh {f}" for f in FORMS) + " |")
    print("|---|---|" + "---|" * len(FORMS))
    for ds, fams in results.items():
        for fam, forms in fams.items():
            best = min(forms, key=lambda f: forms[f][1])
            cells = [f"**{v[1]:.3f}**" if f == best else f"{v[1]:.3f}" for f, v in forms.items()]
            print(f"| {ds} | {fam} | " + " | ".join(cells) + " |")
    print()
    for ds, fams in results.items():
        mult, rect = (np.mean([fams[fam][f][1] for fam in fams]) for f in ("multiplicative", "rectified-joint"))
        print(f"- {ds}: rectified-joint mean Δh {rect:.4f} vs multiplicative {mult:.4f} ({1 - rect / mult:.0%} lower)")


if __name__ == "__main__":
    main()
