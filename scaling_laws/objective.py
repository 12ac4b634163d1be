"""The fitting objective: summed (optionally weighted) Huber loss of log or linear residuals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ftscale.scaling_laws.forms import LawForm
from ftscale.scaling_laws.points import Points

LOSS_KINDS = ("log-huber", "huber")
# Products are written as elementwise multiply-and-sum, not `@`: BLAS would spread these tiny
# matrix-vector products over threads, which costs far more than it saves (20x on 2 cores).
_CHUNK = 100_000  # elements per batch when scoring many starts: cache-sized chunks are fastest


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss: r^2/2 inside [-delta, delta], linear with slope delta outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


class Objective:
    """Summed Huber loss of `form` on points (log X, log Df, L), in the form's internal coordinates."""

    def __init__(
        self,
        form: LawForm,
        lx: np.ndarray,
        ldf: np.ndarray,
        loss: np.ndarray,
        *,
        kind: str = "log-huber",
        delta: float = 1e-3,
        weights: np.ndarray | None = None,
    ):
        if kind not in LOSS_KINDS:
            raise ValueError(f"loss kind must be one of {LOSS_KINDS}, not {kind!r}")
        self.form, self.lx, self.ldf, self.kind, self.delta = form, lx, ldf, kind, delta
        self.target = np.log(loss) if kind == "log-huber" else np.asarray(loss, float)
        self.weights = np.ones_like(ldf) if weights is None else np.asarray(weights, float)
        self.n_params = len(form.free)

    @classmethod
    def on_points(
        cls,
        form: LawForm,
        points: Points,
        keep: np.ndarray,
        *,
        kind: str = "log-huber",
        delta: float = 1e-3,
        weights: np.ndarray | None = None,
    ) -> Objective:
        """The objective on the points that `keep` selects (a boolean mask or indices); weights are per kept point."""
        lx, ldf = points.log_x()[keep], np.log(points.df[keep])
        return cls(form, lx, ldf, points.loss[keep], kind=kind, delta=delta, weights=weights)

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Residuals (K, n) of target minus prediction, in the objective's scale."""
        logl = self.form.log_predict(theta, self.lx, self.ldf)
        return self.target - (logl if self.kind == "log-huber" else np.exp(logl))

    def values(self, thetas: np.ndarray) -> np.ndarray:
        """Objective at many internal parameter vectors (K, p) -> (K,), in memory-bounded chunks."""
        thetas = np.atleast_2d(thetas)
        step = max(1, _CHUNK // max(1, self.ldf.size * 3))
        out = np.empty(len(thetas))
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(0, len(thetas), step):
                out[i : i + step] = (huber(self.residuals(thetas[i : i + step]), self.delta) * self.weights).sum(1)
        return np.where(np.isfinite(out), out, np.inf)

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective and its gradient at one internal parameter vector (p,)."""
        logl, grad = self.form.log_predict_grad(theta, self.lx, self.ldf)
        logl, grad = logl[0], grad[0]
        if self.kind == "log-huber":
            r = self.target - logl
        else:
            pred = np.exp(logl)
            r, grad = self.target - pred, grad * pred[:, None]
        # huber(r) = c (|r| - c/2) with c = min(|r|, delta); its derivative is sign(r) c
        a = np.abs(r)
        c = np.minimum(a, self.delta)
        wc = self.weights * c
        value = float((wc * (a - 0.5 * c)).sum())
        psi = np.copysign(wc, r)  # Huber derivative times weight
        return value, -(psi[:, None] * grad).sum(0)

    def gradient_scale(self, theta: np.ndarray) -> np.ndarray:
        """Largest |gradient| each parameter could have (every residual at full Huber slope)."""
        logl, grad = self.form.log_predict_grad(theta, self.lx, self.ldf)
        if self.kind == "huber":
            grad = grad * np.exp(logl)[..., None]
        return self.delta * (self.weights @ np.abs(grad[0]))


class SumObjective:
    """Sum of objectives over the same free-parameter vector (used for shared-parameter fits)."""

    def __init__(self, parts: Sequence[Objective]):
        self.parts = list(parts)
        self.n_params = parts[0].n_params

    def values(self, thetas: np.ndarray) -> np.ndarray:
        return np.sum([p.values(thetas) for p in self.parts], axis=0)

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        pairs = [p.value_and_grad(theta) for p in self.parts]
        return sum(v for v, _ in pairs), np.sum([g for _, g in pairs], axis=0)

    def gradient_scale(self, theta: np.ndarray) -> np.ndarray:
        return np.sum([p.gradient_scale(theta) for p in self.parts], axis=0)
