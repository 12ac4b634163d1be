"""The typed results of a fitted sweep, and their one serialisation: `laws.json`."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ftscale.errors import InputError
from ftscale.scaling_laws import FitResult

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
    """The multiplicative law of one method along one axis, with its bootstrap intervals."""

    method: str
    axis: str
    fit: FitResult

    @property
    def x_name(self) -> str:
        return AXES[self.axis]


@dataclass(frozen=True)
class FormRanking:
    """Law forms fitted to one method x axis, best first by held-out error (Delta_h, else Delta_e)."""

    method: str
    axis: str
    winner: str
    ranking: list[dict[str, Any]]  # {law, delta_e, delta_h}


@dataclass(frozen=True)
class Critical:
    """The finetuning data size at which two methods reach the same loss, at each X of an axis."""

    axis: str
    method_a: str
    method_b: str
    x: list[float]
    df_c: list[float | None]  # None: the two laws never cross


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
    laws: list[LawFit] = field(default_factory=list)
    forms: list[FormRanking] = field(default_factory=list)
    critical: list[Critical] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def law(self, method: str, axis: str) -> LawFit | None:
        return next((law for law in self.laws if (law.method, law.axis) == (method, axis)), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["laws"] = [{"method": law.method, "axis": law.axis, "fit": law.fit.to_dict()} for law in self.laws]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepResults:
        return cls(
            sweep=data["sweep"],
            task=data["task"],
            points=[
                PointResult(p["id"], p["method"], tuple(p["axes"]), p["factors"], p["metrics"]) for p in data["points"]
            ],
            laws=[LawFit(law["method"], law["axis"], FitResult.from_dict(law["fit"])) for law in data["laws"]],
            forms=[FormRanking(**f) for f in data["forms"]],
            critical=[Critical(**c) for c in data["critical"]],
            claims=[Claim(**c) for c in data["claims"]],
            skipped=[Skipped(**s) for s in data["skipped"]],
        )

    def save(self, path: str | Path) -> Path:
        """Write atomically (a reader never sees half a file; two writers at once never share a temp file)."""
        return write_atomically(Path(path), json.dumps(self.to_dict(), indent=2, allow_nan=False, default=float))

    @classmethod
    def load(cls, path: str | Path) -> SweepResults:
        """Read a laws.json; a ValueError names the file when it is not one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a laws.json written by ftscale ({type(error).__name__}: {error})") from None


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
