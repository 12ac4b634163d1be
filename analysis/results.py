"""The typed results of a fitted sweep, and their one serialisation: `laws.json`."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ftscale.errors import InputError
from ftscale.scaling_laws import Crossing, Decision, FitResult

# Each factor axis of the paper, and the point field that is its X.
AXES = {"model_size": "non_embedding_params", "pretrain_tokens": "pretrain_tokens", "pet_size": "pet_size"}
LOSS = "test/loss"
Verdict = Literal["holds", "does not hold", "inconclusive", "not testable"]


@dataclass(frozen=True)
class PointResult:
    """One finished point: its factors (model size, tokens, PET size, train size, seed, ...) and metrics."""

    id: str
    method: str
    axes: tuple[str, ...]
    factors: dict[str, Any]
    metrics: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PointResult:
        """A store row (or a W&B point run) as a result."""
        return cls(row["id"], row["method"], tuple(row["axes"]), dict(row["factors"]), dict(row["metrics"] or {}))

    def x(self, axis: str) -> float:
        """This point's X along `axis`."""
        return float(self.factors[AXES[axis]])


@dataclass(frozen=True)
class LawFit:
    """The primary-form law of one method along one axis (two-stage fit), with its bootstrap intervals."""

    method: str
    axis: str
    fit: FitResult
    shared: list[str] = field(default_factory=list)  # parameters it shares with the method's other laws

    @property
    def x_name(self) -> str:
        return AXES[self.axis]

    @property
    def name(self) -> str:
        """`the <method> <axis> law`, for sentences."""
        return f"the {self.method} {self.axis} law"

    def degenerate_reason(self) -> str | None:
        """Why nothing may rest on this law (its fit is degenerate), in words; None when its fit is ok."""
        if not self.fit.degenerate:
            return None
        return f"{self.name} is degenerate: {'; '.join(self.fit.quality_reasons)}"


@dataclass(frozen=True)
class FormChoice:
    """The candidate forms fitted to one method x axis, best first as chosen by cross-validation on the fitted
    points (`ranked_by`); the held-out points only score them afterwards. `held_out_ranking` orders the same forms
    by Delta_h: a diagnostic that chose nothing."""

    method: str
    axis: str
    chosen: str | None  # the chosen form's key (a registered name, or a class path); None: no candidate fits
    ranked_by: str  # "cross-validation", "delta_e" when no fold could be formed, "none" without candidates
    # Per form, in that order: law, name, cv_score, folds (fold -> error), reason (no score), quality,
    # quality_reasons, delta_e, delta_h, noise_floor.
    candidates: list[dict[str, Any]]
    folds: list[str]
    notes: list[str]  # folds not formed, and why
    held_out_ranking: list[str]  # form keys by Delta_h (diagnostic)

    @property
    def chosen_delta_h(self) -> float | None:
        return self.candidates[0]["delta_h"] if self.candidates else None

    @property
    def chosen_cv_score(self) -> float | None:
        return self.candidates[0]["cv_score"] if self.candidates else None


@dataclass(frozen=True)
class Sharing:
    """Which parameters one method's laws share across its axes in the two-stage fit, and why: the spec's choice,
    or every option's cross-validation score."""

    method: str
    shared: list[str]
    chosen_by: str  # "cross-validation", "delta_e" (no fold), "the spec", or "one axis" (nothing to share)
    options: list[dict[str, Any]]  # ranked: name, shared, score, folds, reason, degenerate
    folds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stage1_quality: str | None = None  # the verdict on the shared stage of the chosen option
    stage1_reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Critical:
    """Where two methods' laws cross along one axis: every crossing at each X (Df, the better method on each side,
    an interval, an extrapolation mark), or the method lower at every Df when they never cross."""

    axis: str
    method_a: str
    method_b: str
    x: list[float]
    crossings: list[list[Crossing]]  # per X, smallest Df first
    lower: list[str | None]  # per X: the method predicted lower at every Df, when the laws never cross there
    not_testable: str | None = None  # why a law it rests on cannot be used (the numbers are for reference only)


@dataclass(frozen=True)
class AxisDecision:
    """Which method to use at a target (X, Df) of one axis, by the methods' laws along it."""

    axis: str
    target: str  # where the target comes from: "the spec" or "the largest measured"
    decision: Decision


@dataclass(frozen=True)
class Claim:
    """One of the paper's findings judged on this sweep: a quantity per subject (a method, or a pair of
    methods), its bootstrap interval, and a verdict for each subject and overall."""

    id: int
    claim: str
    quantity: str  # e.g. "alpha_m - alpha_p"; the claim holds where it is on `side` of `threshold`
    threshold: float
    side: Literal["above", "below"]
    verdict: Verdict
    evidence: str  # why not testable, or what was measured, in words
    values: dict[str, float] = field(default_factory=dict)  # subject -> point estimate
    intervals: dict[str, list[float]] = field(default_factory=dict)  # subject -> [low, high] at `level`
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    level: float = 0.95
    reasons: dict[str, str] = field(default_factory=dict)  # subject -> why it is not testable


@dataclass(frozen=True)
class Skipped:
    """A method that could not be fitted yet, and why."""

    method: str
    axes: list[str]
    reason: str


@dataclass
class SweepResults:
    """Everything fitted from one sweep; `save` and `load` are laws.json."""

    sweep: str
    task: str
    points: list[PointResult] = field(default_factory=list)
    primary: str = "multiplicative"  # the form of `laws`
    law_forms: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> name, formula, parameter meanings
    laws: list[LawFit] = field(default_factory=list)
    sharing: list[Sharing] = field(default_factory=list)
    forms: list[FormChoice] = field(default_factory=list)
    critical: list[Critical] = field(default_factory=list)
    decisions: list[AxisDecision] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def law(self, method: str, axis: str) -> LawFit | None:
        return next((law for law in self.laws if (law.method, law.axis) == (method, axis)), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def full_model_methods(self) -> list[str]:
        """The methods whose class declares full-model tuning (FMT), as their points say."""
        return full_model_methods(self.points)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepResults:
        def crossing(c: dict[str, Any] | None) -> Crossing | None:
            return None if c is None else Crossing(**c)

        return cls(
            sweep=data["sweep"],
            task=data["task"],
            points=[
                PointResult(p["id"], p["method"], tuple(p["axes"]), p["factors"], p["metrics"]) for p in data["points"]
            ],
            primary=data["primary"],
            law_forms=data["law_forms"],
            laws=[LawFit(**law | {"fit": FitResult.from_dict(law["fit"])}) for law in data["laws"]],
            sharing=[Sharing(**s) for s in data["sharing"]],
            forms=[FormChoice(**f) for f in data["forms"]],
            critical=[
                Critical(**c | {"crossings": [[Crossing(**x) for x in at] for at in c["crossings"]]})
                for c in data["critical"]
            ],
            decisions=[
                AxisDecision(
                    d["axis"],
                    d["target"],
                    Decision(**d["decision"] | {"next_crossing": crossing(d["decision"]["next_crossing"])}),
                )
                for d in data["decisions"]
            ],
            claims=[Claim(**c) for c in data["claims"]],
            skipped=[Skipped(**s) for s in data["skipped"]],
        )

    def save(self, path: str | Path) -> Path:
        """Write atomically (a reader never sees half a file; two writers at once never share a temp file)."""
        return write_atomically(Path(path), json.dumps(self.to_dict(), indent=2, allow_nan=False, default=float))

    @classmethod
    def load(cls, path: str | Path) -> SweepResults:
        """Read a laws.json; an InputError names the file when it is not one this version of ftscale wrote."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise InputError(
                f"{path}: not a laws.json written by this version of ftscale ({type(error).__name__}: {error}); "
                "fit the sweep again: ftscale law fit-sweep DIR"
            ) from None


def full_model_methods(points: list[PointResult]) -> list[str]:
    """The methods whose points say their class trains every backbone parameter (`full_model_tuning`)."""
    return sorted({p.method for p in points if p.factors.get("full_model_tuning")})


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to a unique temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
