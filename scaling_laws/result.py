"""A fitted law with its quality, convergence and uncertainty; lossless JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.forms import LawForm, get_form


@dataclass
class FitResult:
    """One fitted law. `params` use the formula's names (A, B, E, alpha, beta, D_l)."""

    law: str  # registered form name (see forms.FORMS)
    params: dict[str, float]
    objective: float  # summed Huber loss at the optimum
    converged: bool
    message: str  # the optimiser's own words, kept whether or not it converged
    loss_kind: str = "log-huber"
    delta: float = 1e-3
    delta_e: float | None = None  # mean |L - L_hat| on the fitted points
    delta_h: float | None = None  # same on the held-out points (None when nothing is held out)
    n_fit: int = 0
    n_held_out: int = 0
    held_out: list[str] = field(default_factory=list)  # the rules used
    tied: list[list[str]] = field(default_factory=list)  # [leader, follower] pairs
    fixed: dict[str, float] = field(default_factory=dict)
    n_starts: int = 0  # grid starts scored
    n_refined: int = 0  # starts refined by L-BFGS-B
    intervals: dict[str, list[float]] | None = None  # percentile [low, high] per parameter
    level: float | None = None  # coverage of the intervals
    n_bootstrap: int = 0
    n_bootstrap_failed: int = 0  # resamples whose refit did not converge (still counted)
    bootstrap_params: list[list[float]] | None = None  # one row per resample, in `params` order
    seed: int | None = None
    quality: str | None = None  # "ok" or "degenerate" (scaling_laws.quality); None: not assessed (older files)
    quality_reasons: list[str] = field(default_factory=list)  # every reason for "degenerate"
    at_bound: list[str] = field(default_factory=list)  # parameters the optimiser left on its box
    ranges: dict[str, list[float]] | None = None  # [low, high] of "x", "df", "loss" over the fitted points
    noise_floor: float | None = None  # mean over cells of the between-group standard error of the mean loss
    n_groups: int = 0  # distinct groups (replicates, seeds) in the points; 0 when they had none

    @property
    def form(self) -> LawForm:
        """The law form these parameters belong to."""
        return get_form(self.law)

    @property
    def degenerate(self) -> bool:
        """Whether the fit-quality verdict is `degenerate` (False when ok or not assessed)."""
        return self.quality == "degenerate"

    def describe_quality(self) -> str:
        """The verdict in words: `ok`, `degenerate: reason; reason`, or `not assessed`."""
        if self.quality is None:
            return "not assessed"
        return self.quality + (": " + "; ".join(self.quality_reasons) if self.quality_reasons else "")

    def predict(self, x, df):
        """L_hat at (X, Df); X may be None for single-factor laws."""
        return self.form.predict(self.params, x, df)

    def samples(self) -> list[dict[str, float]]:
        """Bootstrap parameter sets as name mappings (empty when not bootstrapped)."""
        return [dict(zip(self.params, row, strict=True)) for row in self.bootstrap_params or []]

    def predict_interval(self, x, df, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of L_hat at (X, Df) over the bootstrap resamples."""
        if not self.bootstrap_params:
            raise ScalingLawError(f"the {self.law} fit has no bootstrap resamples; refit with bootstrap")
        preds = np.array([self.form.predict(s, x, df) for s in self.samples()])
        q = 50 * (1 - (level or self.level or 0.95))
        return np.percentile(preds, q, axis=0), np.percentile(preds, 100 - q, axis=0)

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping of every field."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON text; floats are written with repr, so from_json gives back identical values."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> FitResult:
        """Inverse of to_dict; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra or "law" not in data or "params" not in data:
            raise ScalingLawError(f"not a fit result: unexpected keys {sorted(extra)} or missing law/params")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> FitResult:
        """Inverse of to_json."""
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        """Write to_json() to path."""
        Path(path).write_text(self.to_json() + "\n")
