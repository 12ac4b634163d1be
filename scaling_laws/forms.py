"""Law forms: each writes log L as a log-sum-exp of simple terms, with analytic gradients.

A form works in *internal* coordinates: positive amplitudes are fitted as logs (A = e^a, B = e^b,
E = e^e, D_l = e^d), exponents as they are. Adding a form is one subclass of `LawForm` that names
its parameters, gives its terms and their gradients, and its start grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError

LOG_NAMES = {"A": "a", "B": "b", "E": "e", "D_l": "d"}  # natural name -> internal (log) name

# The Chinchilla grid of Hoffmann et al. / Besiroglu et al. 2024 (4,500 starts for the additive law).
AMPLITUDES = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
EXPONENTS = (0.0, 0.5, 1.0, 1.5, 2.0)
OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0)
# Box for the optimiser: wide enough for any sane law, finite so degenerate fits (A -> inf with
# alpha -> inf, E -> 0) stop at a reported bound instead of overflowing to inf/NaN.
LOG_BOUND = 100.0
EXPONENT_BOUND = 10.0

Terms = list[np.ndarray]
TermGrads = list[list[np.ndarray | float]]


class LawForm:
    """A law L(X, Df) = sum of exp(terms); subclasses define `params`, `_terms`, `_grads`, `grid_axes`."""

    name: str = ""
    formula: str = ""
    params: tuple[str, ...] = ()  # natural names, in internal-vector order
    uses_x: bool = True
    grid_axes: tuple[Sequence[float], ...] = ()  # start values of each parameter, in `params` order

    @property
    def internal(self) -> tuple[str, ...]:
        """Internal parameter names (logs of the positive amplitudes)."""
        return tuple(LOG_NAMES.get(p, p) for p in self.params)

    @property
    def label(self) -> str:
        """Name with any constraints, e.g. `additive[beta=alpha]`."""
        return self.name

    @property
    def free(self) -> tuple[str, ...]:
        """Natural names of the parameters the fitter moves (all of them for a plain form)."""
        return self.params

    @property
    def base(self) -> LawForm:
        """The unconstrained form whose formula this one uses."""
        return self

    def _terms(self, t: list[np.ndarray], lx: np.ndarray, ldf: np.ndarray) -> Terms:
        """Log terms, each broadcastable to (K, n), from internal columns t[i] of shape (K, 1)."""
        raise NotImplementedError

    def _grads(self, t: list[np.ndarray], lx: np.ndarray, ldf: np.ndarray) -> TermGrads:
        """d term_m / d t_i as grads[m][i], each broadcastable to (K, n)."""
        raise NotImplementedError

    def log_predict(self, theta: np.ndarray, lx: np.ndarray, ldf: np.ndarray) -> np.ndarray:
        """log L for internal parameters theta (K, p) at log X, log Df (n,) -> (K, n)."""
        theta = np.atleast_2d(theta)
        terms = self._stack(theta, lx, ldf)
        top = terms.max(axis=1)
        return top + np.log(np.exp(terms - top[:, None]).sum(axis=1))

    def log_predict_grad(self, theta: np.ndarray, lx: np.ndarray, ldf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log L (K, n) and its gradient (K, n, p) with respect to the internal parameters."""
        theta = np.atleast_2d(theta)
        t = [theta[:, i : i + 1] for i in range(theta.shape[1])]
        terms = self._stack(theta, lx, ldf)
        top = terms.max(axis=1)
        weights = np.exp(terms - top[:, None])
        total = weights.sum(axis=1)
        weights /= total[:, None]  # softmax over terms: d LSE / d term
        grad = np.zeros((*total.shape, theta.shape[1]))
        for m, row in enumerate(self._grads(t, lx, ldf)):
            for i, g in enumerate(row):
                if not (np.isscalar(g) and g == 0):
                    grad[..., i] += weights[:, m] * g
        return top + np.log(total), grad

    def _stack(self, theta: np.ndarray, lx: np.ndarray, ldf: np.ndarray) -> np.ndarray:
        t = [theta[:, i : i + 1] for i in range(theta.shape[1])]
        shape = (theta.shape[0], ldf.shape[-1])
        return np.stack([np.broadcast_to(term, shape) for term in self._terms(t, lx, ldf)], axis=1)

    def predict(self, params: Mapping[str, float], x: np.ndarray | float | None, df: np.ndarray | float):
        """L at (X, Df) for natural parameters (X is ignored by single-factor forms)."""
        base = self.base
        ldf = np.log(np.asarray(df, dtype=float))
        lx = np.zeros_like(ldf) if x is None or not base.uses_x else np.log(np.asarray(x, dtype=float))
        lx, ldf = np.broadcast_arrays(lx, ldf)
        theta = base.to_internal(params)
        out = np.exp(base.log_predict(theta[None], lx.ravel(), ldf.ravel()))[0]
        return out.reshape(ldf.shape) if ldf.ndim else float(out[0])

    def to_internal(self, params: Mapping[str, float]) -> np.ndarray:
        """Internal vector of the free parameters from a natural-name mapping."""
        missing = [p for p in self.free if p not in params]
        if missing:
            raise ScalingLawError(f"{self.name} law needs parameters {missing}")
        return np.array([np.log(params[p]) if p in LOG_NAMES else params[p] for p in self.free], float)

    def to_natural(self, theta: np.ndarray) -> dict[str, float]:
        """Natural-name mapping of every parameter from the internal vector of free parameters."""
        return {p: float(np.exp(v) if p in LOG_NAMES else v) for p, v in zip(self.params, theta, strict=True)}

    def grid(self) -> np.ndarray:
        """Start points (G, p) in internal coordinates: the product of the per-parameter axes."""
        axes = dict(zip(self.base.params, self.base.grid_axes, strict=True))
        return np.array(list(itertools.product(*(axes[p] for p in self.free))), dtype=float)

    def bounds(self) -> list[tuple[float, float]]:
        """Optimiser box for each free internal parameter."""
        return [(-LOG_BOUND, LOG_BOUND) if p in LOG_NAMES else (-EXPONENT_BOUND, EXPONENT_BOUND) for p in self.free]

    def constrained(self, tied: Sequence[tuple[str, str]] = (), fixed: Mapping[str, float] | None = None) -> LawForm:
        """This form with `follower := leader` for each (leader, follower) in tied and some params fixed."""
        return Constrained(self, tied, fixed or {})

    def __repr__(self) -> str:
        return f"<{self.name}: {self.formula}>"


class Multiplicative(LawForm):
    """The paper's joint law (Zhang et al. 2024)."""

    name = "multiplicative"
    formula = "L = A X^-alpha Df^-beta + E"
    params = ("A", "alpha", "beta", "E")
    grid_axes = (AMPLITUDES, EXPONENTS, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, beta, e = t
        return [a - alpha * lx - beta * ldf, e]

    def _grads(self, t, lx, ldf):
        return [[1.0, -lx, -ldf, 0.0], [0.0, 0.0, 0.0, 1.0]]


class Additive(LawForm):
    """Chinchilla-style additive law (Hoffmann et al. 2022)."""

    name = "additive"
    formula = "L = A/X^alpha + B/Df^beta + E"
    params = ("A", "alpha", "B", "beta", "E")
    grid_axes = (AMPLITUDES, EXPONENTS, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, b, beta, e = t
        return [a - alpha * lx, b - beta * ldf, e]

    def _grads(self, t, lx, ldf):
        return [[1.0, -lx, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -ldf, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]


class Power(LawForm):
    """Single-factor power law in Df (X is ignored)."""

    name = "power"
    formula = "L = A Df^-beta + E"
    params = ("A", "beta", "E")
    uses_x = False
    grid_axes = (AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, beta, e = t
        return [a - beta * ldf, e]

    def _grads(self, t, lx, ldf):
        return [[1.0, -ldf, 0.0], [0.0, 0.0, 1.0]]


def _rectifier(d: np.ndarray, beta: np.ndarray, ldf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(D_l + Df^beta) and the share of D_l in it (its derivative in d; 1 - share is beta's)."""
    s = np.logaddexp(d, beta * ldf)
    return s, np.exp(d - s)


class Rectified(LawForm):
    """Single-factor rectified law of Lin et al. (ICML 2024): flat pre-power phase, then a power law."""

    name = "rectified"
    formula = "L = B/(D_l + Df^beta) + E"
    params = ("B", "D_l", "beta", "E")
    uses_x = False
    grid_axes = (AMPLITUDES, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        b, d, beta, e = t
        return [b - _rectifier(d, beta, ldf)[0], e]

    def _grads(self, t, lx, ldf):
        _, share = _rectifier(t[1], t[2], ldf)
        return [[1.0, -share, -(1.0 - share) * ldf, 0.0], [0.0, 0.0, 0.0, 1.0]]


class RectifiedJoint(LawForm):
    """Joint rectified law: the paper's multiplicative law with Lin's pre-power phase in Df."""

    name = "rectified-joint"
    formula = "L = A X^-alpha / (D_l + Df^beta) + E"
    params = ("A", "alpha", "D_l", "beta", "E")
    grid_axes = (AMPLITUDES, EXPONENTS, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, d, beta, e = t
        return [a - alpha * lx - _rectifier(d, beta, ldf)[0], e]

    def _grads(self, t, lx, ldf):
        _, share = _rectifier(t[2], t[3], ldf)
        return [[1.0, -lx, -share, -(1.0 - share) * ldf, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]


class Mapped(LawForm):
    """A form seen through a linear map of its parameters: internal base vector = M @ free + c."""

    def __init__(
        self,
        base: LawForm,
        matrix: np.ndarray,
        offset: np.ndarray,
        free: Sequence[str],
        label: str,
    ):
        self._base, self.matrix, self.offset, self._free = base, matrix, offset, tuple(free)
        self.name, self.formula, self.params, self.uses_x = base.name, base.formula, base.params, base.uses_x
        self._label = label
        self.tied: list[tuple[str, str]] = []
        self.fixed: dict[str, float] = {}

    @property
    def label(self) -> str:
        return self._label

    @property
    def free(self) -> tuple[str, ...]:
        return self._free

    @property
    def base(self) -> LawForm:
        return self._base

    @property
    def internal(self) -> tuple[str, ...]:
        return tuple(LOG_NAMES.get(p, p) for p in self._free)

    def full(self, theta: np.ndarray) -> np.ndarray:
        """Internal vector(s) of the base form from the free parameters."""
        return np.atleast_2d(theta) @ self.matrix.T + self.offset

    def log_predict(self, theta, lx, ldf):
        return self._base.log_predict(self.full(theta), lx, ldf)

    def log_predict_grad(self, theta, lx, ldf):
        value, grad = self._base.log_predict_grad(self.full(theta), lx, ldf)
        return value, grad @ self.matrix

    def to_natural(self, theta: np.ndarray) -> dict[str, float]:
        return self._base.to_natural(self.full(theta)[0])

    def __repr__(self) -> str:
        return f"<{self.label}: {self.formula}>"


class Constrained(Mapped):
    """A form with some parameters tied to others (`follower := leader`) and some fixed."""

    def __init__(self, base: LawForm, tied: Sequence[tuple[str, str]], fixed: Mapping[str, float]):
        named = [p for pair in tied for p in pair] + list(fixed)
        unknown = [p for p in named if p not in base.params]
        if unknown:
            raise ScalingLawError(f"{base.name} law has no parameter(s) {unknown}; it has {list(base.params)}")
        followers = {f: leader for leader, f in tied}
        free = tuple(p for p in base.params if p not in followers and p not in fixed)
        matrix, offset = np.zeros((len(base.params), len(free))), np.zeros(len(base.params))
        for row, p in enumerate(base.params):
            if p in fixed:
                offset[row] = np.log(fixed[p]) if p in LOG_NAMES else fixed[p]
            else:
                matrix[row, free.index(followers.get(p, p))] = 1.0
        names = [f"{f}={leader}" for leader, f in tied] + [f"{k}={v:g}" for k, v in fixed.items()]
        super().__init__(base, matrix, offset, free, f"{base.name}[{','.join(names)}]")
        self.tied, self.fixed = [(a, b) for a, b in tied], dict(fixed)


MULTIPLICATIVE = Multiplicative()
ADDITIVE = Additive()
POWER = Power()
RECTIFIED = Rectified()
RECTIFIED_JOINT = RectifiedJoint()
ADDITIVE_TIED = ADDITIVE.constrained(tied=[("alpha", "beta")])

FORMS: dict[str, LawForm] = {f.name: f for f in (MULTIPLICATIVE, ADDITIVE, POWER, RECTIFIED, RECTIFIED_JOINT)}


def get_form(name: str) -> LawForm:
    """The registered form called `name`."""
    try:
        return FORMS[name]
    except KeyError:
        raise ScalingLawError(f"unknown law {name!r}; known laws: {', '.join(FORMS)}") from None
