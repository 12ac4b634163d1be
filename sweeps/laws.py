"""Fitting a sweep: its finished points in, `laws.json` (fits, form ranking, crossovers, the paper's claims) out."""

import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ftscale import scaling_laws as sl

# Each factor axis of the paper, and the point field that is its X.
AXES = {"model_size": "non_embedding_params", "pretrain_tokens": "pretrain_tokens", "pet_size": "pet_size"}
FORMS = (sl.MULTIPLICATIVE, sl.ADDITIVE, sl.RECTIFIED_JOINT)
LOSS = "test/loss"
Laws = dict[tuple[str, str], sl.FitResult]  # (method, axis) -> its multiplicative law


def point_record(row: dict) -> dict:
    """A done store row as a laws.json point: id, method, axes, the factors flattened beside them, metrics."""
    return {"id": row["id"], "method": row["method"], "axes": row["axes"], **row["factors"], "metrics": row["metrics"]}


def series(points: list[dict], method: str, axis: str) -> sl.Points | None:
    """The (X, Df, loss) points of one method along one axis, averaged over subset seeds as in the paper."""
    losses: dict[tuple[float, float], list[float]] = defaultdict(list)
    for p in points:
        if p["method"] == method and axis in p["axes"] and LOSS in p.get("metrics", {}):
            losses[(float(p[AXES[axis]]), float(p["train_size"]))].append(p["metrics"][LOSS])
    if len({x for x, _ in losses}) < 2:  # a joint law needs at least two values of X
        return None
    keys = sorted(losses)
    return sl.as_points([k[0] for k in keys], [k[1] for k in keys], [float(np.mean(losses[k])) for k in keys])


def fit_sweep(points: list[dict], held_out: dict[str, list[str]], out_dir: Path, bootstrap: int = 0) -> dict:
    """Fit every law for every method x axis of a sweep, plot them into `out_dir/figures`, return laws.json.

    held_out maps each axis to the rules of the points kept out of its fits (Delta_h is measured on them).

    A method whose points cannot be fitted yet (a partial sweep, too few sizes) is listed under `skipped`
    with the reason, and the rest is still fitted.
    """
    figures = out_dir / "figures"
    fits, comparisons, joint, skipped = [], [], {}, []
    for method in sorted({p["method"] for p in points}):
        by_axis = {axis: s for axis in AXES if (s := series(points, method, axis)) is not None}
        try:
            laws = _fit_method(by_axis, held_out, bootstrap)
        except sl.ScalingLawError as error:
            skipped.append({"method": method, "axes": sorted(by_axis), "reason": str(error)})
            continue
        for axis, (comparison, law) in laws.items():
            pts = by_axis[axis]
            comparisons.append(_comparison(method, axis, comparison))
            joint[(method, axis)] = law
            figure = figures / f"{method}-{axis}.png"
            sl.plot_fit(law, pts.x, pts.df, pts.loss, held_out=held_out.get(axis), path=figure,
                        title=f"{method}, X = {AXES[axis]}: {law.form.formula}")  # fmt: skip
            fits.append(_fit(method, axis, law, figure.relative_to(out_dir)))
    return {
        "points": points,
        "fits": fits,
        "form_comparison": comparisons,
        "critical": _critical(joint, points, figures, out_dir),
        "claims": claims(joint, fits),
        "skipped": skipped,
    }


def _fit_method(
    by_axis: dict[str, sl.Points], held_out: dict[str, list[str]], bootstrap: int
) -> dict[str, tuple[sl.Comparison, sl.FitResult]]:
    """One method's form comparison and multiplicative law on each of its axes."""
    if not by_axis:
        raise sl.ScalingLawError("no axis has points at two or more values of X yet")
    # The paper's recipe: beta and E shared by the model-size and pretraining-data fits.
    stage1 = [a for a in ("model_size", "pretrain_tokens") if a in by_axis]
    two_stage = sl.fit_two_stage(by_axis, stage1=stage1 or None, held_out=held_out)
    out = {}
    for axis, pts in by_axis.items():
        law = two_stage.fits[axis]
        if bootstrap:
            fixed = {k: law.params[k] for k in two_stage.shared}
            law = sl.bootstrap(sl.MULTIPLICATIVE.constrained(fixed=fixed), pts.x, pts.df, pts.loss,
                               n=bootstrap, seed=0, held_out=held_out.get(axis))  # fmt: skip
        out[axis] = (sl.compare_forms(pts.x, pts.df, pts.loss, FORMS, held_out=held_out.get(axis)), law)
    return out


def _fit(method: str, axis: str, law: sl.FitResult, figure: Path) -> dict:
    return {
        "method": method, "axis": axis, "x_name": AXES[axis], "law": "multiplicative",
        "formula": sl.MULTIPLICATIVE.formula, "params": law.params, "intervals": law.intervals or {},
        "delta_e": law.delta_e, "delta_h": law.delta_h, "n_fit": law.n_fit, "n_held_out": law.n_held_out,
        "converged": law.converged, "figure": str(figure),
    }  # fmt: skip


def _comparison(method: str, axis: str, comparison: sl.Comparison) -> dict:
    ranking = [{"law": f.law, "delta_e": f.delta_e, "delta_h": f.delta_h} for f in comparison.fits]
    return {"method": method, "axis": axis, "winner": comparison.winner.law, "ranking": ranking}


def _critical(joint: Laws, points: list[dict], figures: Path, out_dir: Path) -> list[dict]:
    """Critical finetuning data size between every two methods along every shared axis."""
    rows = []
    for (m1, a1), (m2, a2) in itertools.combinations(sorted(joint), 2):
        if a1 != a2 or m1 == m2:
            continue
        xs = sorted({float(p[AXES[a1]]) for p in points if a1 in p["axes"]})
        fit1, fit2 = joint[(m1, a1)], joint[(m2, a2)]
        figure = figures / f"critical-{m1}-{m2}-{a1}.png"
        sl.plot_critical(fit1, fit2, xs, labels=(m1, m2), path=figure)
        rows.append({
            "axis": a1, "method_a": m1, "method_b": m2, "x": xs,
            "df_c": [sl.critical_data_size(fit1, fit2, x) for x in xs], "figure": str(figure.relative_to(out_dir)),
        })  # fmt: skip
    return rows


def claims(joint: Laws, fits: list[dict]) -> list[dict]:
    """The paper's five findings, each judged on this sweep (holds None: not testable on it)."""
    return [claim(joint, fits) for claim in (_claim_fits, _claim_model_over_pretraining, _claim_pet_size_tiny,
                                             _claim_fmt_data_hungry, _claim_zero_shot)]  # fmt: skip


def _claim(number: int, text: str, holds: bool | None, evidence: str) -> dict:
    return {"id": number, "claim": text, "holds": holds, "evidence": evidence}


def _claim_fits(joint: Laws, fits: list[dict]) -> dict:
    text = "The multiplicative joint law fits and extrapolates with small held-out error (Delta_h < 0.05)"
    held = [f["delta_h"] for f in fits if f["delta_h"] is not None]
    if not held:
        return _claim(1, text, None, "no held-out points")
    return _claim(1, text, max(held) < 0.05, f"max Delta_h {max(held):.4f} over {len(held)} fits")


def _claim_model_over_pretraining(joint: Laws, fits: list[dict]) -> dict:
    text = "alpha_m > alpha_p: a bigger base model helps more than more pretraining data"
    methods = sorted({m for m, a in joint if a == "model_size" and (m, "pretrain_tokens") in joint})
    pairs = [(m, joint[(m, "model_size")].params["alpha"], joint[(m, "pretrain_tokens")].params["alpha"])
             for m in methods]  # fmt: skip
    evidence = "; ".join(f"{m}: alpha_m {am:.3f}, alpha_p {ap:.3f}" for m, am, ap in pairs)
    return _claim(2, text, all(am > ap for _, am, ap in pairs) if pairs else None, evidence)


def _claim_pet_size_tiny(joint: Laws, fits: list[dict]) -> dict:
    text = "|alpha_t| is tiny (below a quarter of alpha_m): a longer prompt or a higher rank buys almost nothing"
    methods = sorted({m for m, a in joint if a == "pet_size" and (m, "model_size") in joint})
    pairs = [(m, joint[(m, "pet_size")].params["alpha"], joint[(m, "model_size")].params["alpha"]) for m in methods]
    evidence = "; ".join(f"{m}: alpha_t {at:.4f}, alpha_m {am:.3f}" for m, at, am in pairs)
    return _claim(3, text, all(abs(at) < 0.25 * am for _, at, am in pairs) if pairs else None, evidence)


def _claim_fmt_data_hungry(joint: Laws, fits: list[dict]) -> dict:
    text = "beta_FMT > beta_PET: full-model tuning is more data-hungry"
    pairs = [(m, a, law.params["beta"], joint[("fmt", a)].params["beta"])
             for (m, a), law in sorted(joint.items()) if m != "fmt" and ("fmt", a) in joint]  # fmt: skip
    evidence = "; ".join(f"{a}: FMT {bf:.3f} vs {m} {bp:.3f}" for m, a, bp, bf in pairs)
    return _claim(4, text, all(bf > bp for _, _, bp, bf in pairs) if pairs else None, evidence)


def _claim_zero_shot(joint: Laws, fits: list[dict]) -> dict:
    text = "PET keeps zero-shot ability better than FMT"
    return _claim(5, text, None, "needs zero-shot evaluation on a task not finetuned on, which this sweep does not run")


def write_laws(laws: dict, out_dir: Path) -> Path:
    """Write laws.json atomically (a crash never leaves half a file)."""
    path = out_dir / "laws.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(laws, indent=2, allow_nan=False, default=float))
    tmp.replace(path)
    return path
