"""Held-out comparison of every law form on Lin et al. 2024's real finetuning curves, as markdown.

Per dataset (wmt19, gigaword, flan) and model family (from the model id, see
ftscale.scaling_laws.external.model_family; families with >= 3 sizes), X = parameter count, Df = examples
200 ... 1,638,400 (column 0, before finetuning, excluded), held out = the largest model and the largest
Df. Delta_e / Delta_h = mean |L - L_hat| on fitted / held-out points. Last, the form cross-validation chooses
for each family on its fitted points alone (scaling_laws.compare), scored on the held-out points.

    python benchmarks/lin2024_table.py [--data benchmarks/data/lin2024] > table.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ftscale.scaling_laws import FORMS
from ftscale.scaling_laws.compare import compare_points
from ftscale.scaling_laws.external import lin2024

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "lin2024"
DATASETS = ("wmt19", "gigaword", "flan")
HELD_OUT = ["x=max", "df=max"]


def evaluate(root: Path, dataset: str) -> tuple[dict[str, dict[str, tuple[float, float, bool]]], dict[str, str]]:
    """family -> form -> (Delta_e, Delta_h, converged), and family -> the form cross-validation chose on the
    fitted points (the held-out points never read)."""
    fits, chosen = {}, {}
    for fam, pts in lin2024(root, dataset).items():
        c = compare_points(pts, list(FORMS.values()), held_out=HELD_OUT)
        fits[fam] = {ch.name: (f.delta_e, f.delta_h, f.converged) for ch, f in zip(c.cv, c.fits, strict=True)}
        fits[fam] = {name: fits[fam][name] for name in FORMS}  # the table's column order
        chosen[fam] = c.cv[0].name
    return fits, chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the folder of Lin et al.'s CSVs")
    root = ap.parse_args().data
    evaluated = {ds: evaluate(root, ds) for ds in DATASETS}
    results = {ds: fits for ds, (fits, _) in evaluated.items()}
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
    print()
    print("Chosen by cross-validation on the fitted points (leave the largest fitted X out; the largest fitted Df")
    print("out), then scored on the held-out points:")
    print()
    print("| dataset | family | chosen form | Δh chosen | Δh multiplicative |")
    print("|---|---|---|---|---|")
    for ds, (fams, chosen) in evaluated.items():
        for fam, form in chosen.items():
            print(f"| {ds} | {fam} | {form} | {fams[fam][form][1]:.4f} | {fams[fam]['multiplicative'][1]:.4f} |")
    print()
    for ds, (fams, chosen) in evaluated.items():
        picked = np.mean([fams[fam][form][1] for fam, form in chosen.items()])
        mult = np.mean([fams[fam]["multiplicative"][1] for fam in fams])
        print(f"- {ds}: mean Δh of the chosen forms {picked:.4f} vs multiplicative {mult:.4f}")


if __name__ == "__main__":
    main()
