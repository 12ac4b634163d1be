"""The paper's five findings, each judged on the bootstrap interval of its own quantity.

A subject's verdict is `holds` when the whole interval is on the claim's side of its threshold, `does not
hold` when it is wholly on the other side, and `inconclusive` when it straddles; it is `not testable` when a
law it rests on is degenerate or its form lacks the parameter the claim reads (claims ask a form for a
meaning: its size or data exponent, not a name). The claim holds overall when it holds for every subject, does
not hold when it fails for every subject, is not testable when no subject is, and is inconclusive else.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ftscale.analysis.results import Claim, LawFit, PointResult, Verdict, full_model_methods
from ftscale.scaling_laws import DATA_EXPONENT, SIZE_EXPONENT, Meaning, percentile_interval

HELD_OUT_ERROR = 0.05  # claim 1: "small" held-out error, as a mean absolute loss difference
PET_SIZE_RATIO = 0.25  # claim 3: |alpha_t| below a quarter of alpha_m is "tiny"
FMT = "fmt"
BASE = "base"  # the untrained backbones' points, scored on the evaluation tasks only
# Claim 5 is judged on the retention task (a target language the finetuning does not train: what it may forget);
# the transfer task (the finetuning's target language from another source) is shown beside it, not judged.
RETENTION, TRANSFER = "retention", "transfer"
EVALUATION_LOSS = re.compile(r"(transfer|retention)/k(\d+)/loss")  # zero-shot (k0) and k-shot losses

Samples = dict[str, np.ndarray]  # subject -> per-resample values of the claim's quantity


def judge_claims(laws: list[LawFit], delta_h: Samples, points: list[PointResult], level: float) -> list[Claim]:
    """All five claims; `delta_h` is each law's held-out error per resample (keyed `method/axis`). Claims 2-4 read
    each law's parameter by its meaning; a subject whose law is degenerate, or whose form lacks the meaning, is not
    testable, with the reason."""
    by_key = {(law.method, law.axis): law for law in laws}
    return [
        _held_out_error(by_key, delta_h, level),
        _model_over_pretraining(by_key, level),
        _pet_size_tiny(by_key, level),
        _fmt_data_hungry(by_key, full_model_methods(points), level),
        _zero_shot(points, level),
    ]


def _held_out_error(laws: dict, delta_h: Samples, level: float) -> Claim:
    form = next(iter(laws.values())).fit.form.name if laws else "joint"
    text = f"The {form} law fits and extrapolates: held-out error Delta_h below {HELD_OUT_ERROR}"
    values = {f"{m}/{a}": law.fit.delta_h for (m, a), law in laws.items() if law.fit.delta_h is not None}
    samples = {key: delta_h[key] for key in values if key in delta_h}
    untestable = {
        f"{m}/{a}": why for (m, a), law in laws.items() if f"{m}/{a}" in values and (why := law.degenerate_reason())
    }
    return _judge(1, text, "Delta_h", HELD_OUT_ERROR, "below", values, samples, level, "no held-out points", untestable)


def _model_over_pretraining(laws: dict, level: float) -> Claim:
    text = "alpha_m > alpha_p: a bigger base model helps more than more pretraining data"
    methods = sorted(m for m, a in laws if a == "model_size" and (m, "pretrain_tokens") in laws)
    operands = {m: (laws[(m, "model_size")], laws[(m, "pretrain_tokens")], SIZE_EXPONENT) for m in methods}
    missing = "needs both the model-size and the pretraining-tokens axis"
    return _from_laws(2, text, "alpha_m - alpha_p", 0.0, "above", operands, np.subtract, level, missing)


def _pet_size_tiny(laws: dict, level: float) -> Claim:
    text = f"|alpha_t| is tiny (below {PET_SIZE_RATIO} of alpha_m): a longer prompt or higher rank buys little"
    methods = sorted(m for m, a in laws if a == "pet_size" and (m, "model_size") in laws)
    operands = {m: (laws[(m, "pet_size")], laws[(m, "model_size")], SIZE_EXPONENT) for m in methods}

    def ratio(t: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.abs(t) / np.where(m > 0, m, np.nan)

    missing = "needs a PET method on the PET-size and the model-size axis"
    return _from_laws(3, text, "|alpha_t| / alpha_m", PET_SIZE_RATIO, "below", operands, ratio, level, missing)


def _fmt_data_hungry(laws: dict, full_model: list[str], level: float) -> Claim:
    """beta of each full-model-tuning method minus each PET method's, on an axis both were fitted on: once per pair
    when both share their data exponent across those axes (the paper's two-stage fit), else once per axis."""
    text = "beta_FMT > beta_PET: full-model tuning is more data-hungry"
    operands = {}
    for fmt, pet in itertools.product(full_model, sorted({m for m, _ in laws} - set(full_model))):
        axes = [a for a in ("model_size", "pretrain_tokens") if (fmt, a) in laws and (pet, a) in laws]
        shared = all(_shares_data_exponent(laws[(m, a)]) for m in (fmt, pet) for a in axes)
        subject = pet if len(full_model) == 1 else f"{fmt} - {pet}"
        for a in axes[:1] if shared else axes:
            operands[subject if shared else f"{subject} ({a})"] = (laws[(fmt, a)], laws[(pet, a)], DATA_EXPONENT)
    missing = (
        "needs a method declared as full-model tuning and a PET method on a shared axis"
        if full_model
        else "needs a method whose class declares full-model tuning (`full_model_tuning`, e.g. FullFinetune), as "
        "its points record it (points stored before ftscale recorded it lack it)"
    )
    return _from_laws(4, text, "beta_FMT - beta_PET", 0.0, "above", operands, np.subtract, level, missing)


def _shares_data_exponent(law: LawFit) -> bool:
    return law.fit.form.parameter(DATA_EXPONENT) in law.shared


Operands = tuple[LawFit, LawFit, Meaning]  # the two laws whose parameters of this meaning the claim compares


def _from_laws(
    number: int,
    text: str,
    quantity: str,
    threshold: float,
    side: str,
    operands: dict[str, Operands],
    op: Callable[[np.ndarray, np.ndarray], np.ndarray],
    level: float,
    missing: str,
) -> Claim:
    """A claim on `op(parameter of law 1, parameter of law 2)` per subject, each parameter found by its meaning,
    with intervals from aligned bootstrap samples."""
    values, samples, untestable = {}, {}, {}
    for subject, (law1, law2, meaning) in operands.items():
        names = [law1.fit.form.parameter(meaning), law2.fit.form.parameter(meaning)]
        what = meaning.label.split(":")[0]  # "size exponent"
        forms = {law.fit.form.name for law, name in zip((law1, law2), names, strict=True) if name is None}
        lacking = [f"the {form} form has no {what}" for form in sorted(forms)]
        why = "; ".join(lacking) or "; ".join(r for r in (law1.degenerate_reason(), law2.degenerate_reason()) if r)
        if lacking:
            untestable[subject] = why
            continue
        value = float(op(np.float64(law1.fit.params[names[0]]), np.float64(law2.fit.params[names[1]])))
        if not np.isfinite(value):  # e.g. a ratio to an exponent that is not positive
            untestable[subject] = "; ".join(filter(None, [why, f"{quantity} is not defined at the fitted parameters"]))
            continue
        values[subject] = value
        if why:
            untestable[subject] = why
        s1, s2 = _param_samples(law1, names[0]), _param_samples(law2, names[1])
        if s1 is not None and s2 is not None:
            n = min(len(s1), len(s2))
            samples[subject] = op(s1[:n], s2[:n])
    return _judge(number, text, quantity, threshold, side, values, samples, level, missing, untestable)


def _param_samples(law: LawFit, name: str) -> np.ndarray | None:
    rows = law.fit.bootstrap_params
    if not rows:
        return None
    return np.asarray(rows, dtype=float)[:, list(law.fit.params).index(name)]


def _zero_shot(points: list[PointResult], level: float, n: int = 1000, seed: int = 0) -> Claim:
    """Claim 5 on every retention shot count (each PET method x k is a subject; the claim holds when it holds for
    all of them, zero- and few-shot alike), with the transfer task's comparison added as subjects not judged."""
    text = (
        "PET keeps zero- and few-shot ability better than FMT: a smaller rise, over the untrained backbone, of the "
        "loss on a task whose target language the finetuning does not train"
    )
    quantity = "rise_FMT - rise_PET"
    rng = np.random.default_rng(seed)
    retention = _rise_differences(points, RETENTION, rng, n)
    transfer = _rise_differences(points, TRANSFER, rng, n)
    if not retention[0]:
        why = (
            "needs a retention evaluation (spec field `retention`: a task whose target language the finetuning does "
            "not train) of the base models, FMT and a PET method on the same backbones, subsets and seeds"
        )
        if transfer[0]:  # the transfer task measures what finetuning adds to a related task, not what it keeps
            why += "; the transfer task alone measures transfer, not retention"
        return _judge(5, text, quantity, 0.0, "above", {}, {}, level, why)
    claim = _judge(5, text, quantity, 0.0, "above", *retention, level, "")
    if not transfer[0]:
        return claim
    shown = _judge(5, text, quantity, 0.0, "above", *transfer, level, "")
    return replace(
        claim,
        evidence=f"{claim.evidence}; not judged, transfer (shared target language): {shown.evidence}",
        values=claim.values | shown.values,
        intervals=claim.intervals | shown.intervals,
        verdicts=claim.verdicts | shown.verdicts,
    )


def _rise_differences(
    points: list[PointResult], task: str, rng: np.random.Generator, n: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per PET method and shot count, `<task> k=<k>: <method>`: the mean over matched points (same backbone,
    subset size and seed) of FMT's rise minus the method's, and its bootstrap over those points."""
    values: dict[str, float] = {}
    samples: dict[str, np.ndarray] = {}
    for metric, shots in sorted(_evaluation_metrics(points, task).items(), key=lambda item: item[1]):
        rises = _rises(points, metric)
        for method in sorted(set(rises) - {FMT}) if FMT in rises else []:
            matched = sorted(set(rises[FMT]) & set(rises[method]))
            if not matched:
                continue
            differences = np.array([rises[FMT][key] - rises[method][key] for key in matched])
            subject = f"{task} k={shots}: {method}"
            values[subject] = float(differences.mean())
            samples[subject] = differences[rng.integers(0, len(differences), (n, len(differences)))].mean(axis=1)
    return values, samples


def _evaluation_metrics(points: list[PointResult], task: str) -> dict[str, int]:
    """The `<task>/k<k>/loss` metrics the points hold, with their k."""
    found = (EVALUATION_LOSS.fullmatch(key) for p in points for key in p.metrics)
    return {m.group(0): int(m.group(2)) for m in found if m is not None and m.group(1) == task}


def _rises(points: list[PointResult], metric: str) -> dict[str, dict[tuple, float]]:
    """Per method, each finetuned point's `metric` minus its untrained backbone's, keyed by (backbone, subset
    size, seed); points only on the PET-size axis are left out (FMT has none to match them)."""
    base = {_backbone(p): p.metrics[metric] for p in points if p.method == BASE and metric in p.metrics}
    rises: dict[str, dict[tuple, float]] = {}
    for p in points:
        if p.method == BASE or metric not in p.metrics or _backbone(p) not in base or set(p.axes) <= {"pet_size"}:
            continue
        key = (_backbone(p), p.factors.get("train_size"), p.factors.get("seed"))
        rises.setdefault(p.method, {})[key] = p.metrics[metric] - base[_backbone(p)]
    return rises


def _backbone(point: PointResult) -> tuple:
    f = point.factors
    return f.get("model", f.get("model_size")), f.get("revision"), f.get("pretrain_tokens")


def _judge(
    number: int,
    text: str,
    quantity: str,
    threshold: float,
    side: str,
    values: dict[str, float],
    samples: dict[str, np.ndarray],
    level: float,
    missing: str,
    untestable: dict[str, str] | None = None,
) -> Claim:
    """The claim's verdict per subject and overall: holds (does not hold) when every subject's does; not testable
    when no subject is (each `untestable` subject -> why); inconclusive else."""
    untestable = untestable or {}
    subjects = [*values, *(s for s in untestable if s not in values)]
    if not subjects:
        return Claim(number, text, quantity, threshold, side, "not testable", missing, level=level)
    intervals = {
        s: list(percentile_interval(v[np.isfinite(v)], level)) for s, v in samples.items() if np.isfinite(v).any()
    }
    verdicts: dict[str, Verdict] = {
        s: "not testable" if s in untestable else _verdict(intervals.get(s), threshold, side) for s in subjects
    }
    overall = set(verdicts.values())
    verdict: Verdict = overall.pop() if len(overall) == 1 else "inconclusive"
    evidence = "; ".join(
        f"{s}: not testable: {untestable[s]}"
        if s in untestable
        else f"{s}: {values[s]:.4g}"
        + (f" [{intervals[s][0]:.4g}, {intervals[s][1]:.4g}]" if s in intervals else " (no interval)")
        for s in subjects
    )
    return Claim(
        number, text, quantity, threshold, side, verdict, evidence, values, intervals, verdicts, level, untestable
    )


def _verdict(interval: list[float] | None, threshold: float, side: str) -> Verdict:
    if interval is None:
        return "inconclusive"  # a point estimate alone cannot tell
    low, high = interval
    above: Callable[[float], bool] = (lambda v: v > threshold) if side == "above" else (lambda v: v < threshold)
    if above(low) and above(high):
        return "holds"
    if not above(low) and not above(high) and low != threshold and high != threshold:
        return "does not hold"
    return "inconclusive"
