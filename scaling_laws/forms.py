"""Law forms: each writes log L as a log-sum-exp of simple terms, with analytic gradients.

A form works in *internal* coordinates: positive parameters (amplitudes, floors, offsets) are fitted as
logs (A = e^a, B = e^b, E = e^e, D_l = e^d), exponents as they are. Each parameter has a `Meaning` (the
size exponent, the data exponent, the floor, ...), so code asks `form.parameter(SIZE_EXPONENT)` instead of
naming `alpha`. Adding a form is one subclass of `LawForm` (its parameters with their meanings, its
terms and their gradients, its start grid) registered with `@register_form`.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError


@dataclass(frozen=True)
class Meaning:
    """What a parameter is: positive ones are fitted as their log; an exponent names the factor it
    scales and its expected sign (+1: the loss falls as that factor grows when the exponent is positive)."""

    label: str
    positive: bool
    factor: str | None = None  # "X" or "Df" for an exponent
    sign: int = 0  # expected sign of an exponent; 0 for other parameters


SCALE = Meaning("scale: amplitude of the power term (of the X term in an additive law)", positive=True)
DATA_SCALE = Meaning("data scale: amplitude of the separate Df term", positive=True)
SIZE_EXPONENT = Meaning("size exponent: how fast the loss falls with X", positive=False, factor="X", sign=1)
DATA_EXPONENT = Meaning("data exponent: how fast the loss falls with Df", positive=False, factor="Df", sign=1)
FLOOR = Meaning("floor: the loss approached as X and Df grow", positive=True)
PRE_POWER = Meaning("pre-power offset D_l: the flat phase before the power law in Df", positive=True)

LOG_NAMES = {"A": "a", "B": "b", "E": "e", "D_l": "d"}  # internal (log) names of the built-in forms' parameters

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
    """A law L(X, Df) = sum of exp(terms); subclasses define `params`, `meanings`, `_terms`, `_grads`, `grid_axes`."""

    name: str = ""
    formula: str = ""
    params: tuple[str, ...] = ()  # natural names, in internal-vector order
    meanings: tuple[Meaning, ...] = ()  # what each parameter is, in `params` order
    uses_x: bool = True
    grid_axes: tuple[Sequence[float], ...] = ()  # start values of each parameter, in `params` order

    @property
    def key(self) -> str:
        """How a FitResult names this form so `get_form` finds it in any process: the registered name of
        ftscale's own forms, the dotted class path (`my_pkg.laws.Shifted`) of a form defined elsewhere."""
        base = type(self.base)
        if base.__module__.startswith("ftscale."):
            return self.name
        return f"{base.__module__}.{base.__qualname__}"

    def meaning(self, param: str) -> Meaning:
        """The meaning of one of this form's parameters (natural name)."""
        base = self.base
        if param not in base.params:
            raise ScalingLawError(f"{base.name} law has no parameter {param!r}; it has {list(base.params)}")
        return base.meanings[base.params.index(param)]

    def parameter(self, meaning: Meaning) -> str | None:
        """The name of the parameter that has `meaning` (e.g. SIZE_EXPONENT -> "alpha"), or None."""
        base = self.base
        return next((p for p, m in zip(base.params, base.meanings, strict=True) if m == meaning), None)

    def positive(self, param: str) -> bool:
        """Whether `param` (natural name) is positive, hence fitted as its log."""
        return self.meaning(param).positive

    @property
    def internal(self) -> tuple[str, ...]:
        """Internal parameter names of the free parameters (logs of the positive ones)."""
        return tuple(_internal_name(p, self.positive(p)) for p in self.free)

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
            share = weights[:, m]
            for i, g in enumerate(row):
                if isinstance(g, float) and g in (0.0, 1.0):  # constant derivatives: skip 0, no product for 1
                    if g:
                        grad[..., i] += share
                else:
                    grad[..., i] += share * g
        return top + np.log(total), grad

    def _stack(self, theta: np.ndarray, lx: np.ndarray, ldf: np.ndarray) -> np.ndarray:
        """The log terms (K, M, n); assigned into one array (cheaper than broadcasting and stacking each)."""
        t = [theta[:, i : i + 1] for i in range(theta.shape[1])]
        terms = self._terms(t, lx, ldf)
        out = np.empty((theta.shape[0], len(terms), ldf.shape[-1]))
        for m, term in enumerate(terms):
            out[:, m] = term
        return out

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
        return np.array([np.log(params[p]) if self.positive(p) else params[p] for p in self.free], float)

    def to_natural(self, theta: np.ndarray) -> dict[str, float]:
        """Natural-name mapping of every parameter from the internal vector of free parameters."""
        return {p: float(np.exp(v) if self.positive(p) else v) for p, v in zip(self.params, theta, strict=True)}

    def grid(self) -> np.ndarray:
        """Start points (G, p) in internal coordinates: the product of the per-parameter axes."""
        axes = dict(zip(self.base.params, self.base.grid_axes, strict=True))
        return np.array(list(itertools.product(*(axes[p] for p in self.free))), dtype=float)

    def bounds(self) -> list[tuple[float, float]]:
        """Optimiser box for each free internal parameter."""
        return [(-LOG_BOUND, LOG_BOUND) if self.positive(p) else (-EXPONENT_BOUND, EXPONENT_BOUND) for p in self.free]

    def constrained(self, tied: Sequence[tuple[str, str]] = (), fixed: Mapping[str, float] | None = None) -> LawForm:
        """This form with `follower := leader` for each (leader, follower) in tied and some params fixed."""
        return Constrained(self, tied, fixed or {})

    def __repr__(self) -> str:
        return f"<{self.name}: {self.formula}>"


FORMS: dict[str, LawForm] = {}  # name -> form; filled by register_form
_BY_PATH: dict[str, LawForm] = {}  # dotted class path -> form, for forms defined outside ftscale


def register_form(form: type[LawForm] | LawForm) -> type[LawForm] | LawForm:
    """Register a law form: an instance, or a class (instantiated without arguments), so it can be used as a
    class decorator; returns its argument. A form is then found by `get_form(form.name)` and, outside ftscale,
    by its class path (define it in an importable module, not `__main__`, so other processes find it)."""
    instance = form() if isinstance(form, type) else form
    if not isinstance(instance, LawForm) or not instance.name:
        raise ScalingLawError(f"register_form takes a LawForm subclass or instance with a name, got {form!r}")
    known = FORMS.get(instance.name)
    if known is not None and _class_path(known) != _class_path(instance):
        raise ScalingLawError(
            f"a law called {instance.name!r} is already registered ({type(known).__qualname__}); choose another name"
        )
    if len(instance.meanings) != len(instance.params) or len(instance.grid_axes) != len(instance.params):
        raise ScalingLawError(
            f"law {instance.name!r}: give one meaning and one grid axis per parameter {list(instance.params)}"
        )
    FORMS[instance.name] = known or instance
    _BY_PATH[instance.key] = FORMS[instance.name]
    return form


def get_form(name: str) -> LawForm:
    """The registered form called `name`, or the form class at the dotted path `name` (`my_pkg.laws.Shifted`),
    imported, instantiated and registered."""
    form = FORMS.get(name) or _BY_PATH.get(name)
    if form is not None:
        return form
    module, _, attr = name.rpartition(".")
    if module:
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as error:
            raise ScalingLawError(f"law {name!r}: cannot import it ({error})") from None
        if not (isinstance(cls, type) and issubclass(cls, LawForm)):
            raise ScalingLawError(f"law {name!r} is not a LawForm subclass")
        register_form(cls)
        return FORMS[cls.name]
    raise ScalingLawError(
        f"unknown law {name!r}; known laws: {', '.join(FORMS)}, or the dotted path of a LawForm class (my_pkg.MyForm)"
    )


def _class_path(form: LawForm) -> str:
    return f"{type(form).__module__}.{type(form).__qualname__}"


def _internal_name(param: str, positive: bool) -> str:
    return LOG_NAMES.get(param, f"log_{param}") if positive else param


@register_form
class Multiplicative(LawForm):
    """The paper's joint law (Zhang et al. 2024)."""

    name = "multiplicative"
    formula = "L = A X^-alpha Df^-beta + E"
    params = ("A", "alpha", "beta", "E")
    meanings = (SCALE, SIZE_EXPONENT, DATA_EXPONENT, FLOOR)
    grid_axes = (AMPLITUDES, EXPONENTS, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, beta, e = t
        return [a - alpha * lx - beta * ldf, e]

    def _grads(self, t, lx, ldf):
        return [[1.0, -lx, -ldf, 0.0], [0.0, 0.0, 0.0, 1.0]]


@register_form
class Additive(LawForm):
    """Chinchilla-style additive law (Hoffmann et al. 2022)."""

    name = "additive"
    formula = "L = A/X^alpha + B/Df^beta + E"
    params = ("A", "alpha", "B", "beta", "E")
    meanings = (SCALE, SIZE_EXPONENT, DATA_SCALE, DATA_EXPONENT, FLOOR)
    grid_axes = (AMPLITUDES, EXPONENTS, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, b, beta, e = t
        return [a - alpha * lx, b - beta * ldf, e]

    def _grads(self, t, lx, ldf):
        return [[1.0, -lx, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -ldf, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]


@register_form
class Power(LawForm):
    """Single-factor power law in Df (X is ignored)."""

    name = "power"
    formula = "L = A Df^-beta + E"
    params = ("A", "beta", "E")
    meanings = (SCALE, DATA_EXPONENT, FLOOR)
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


@register_form
class Rectified(LawForm):
    """Single-factor rectified law of Lin et al. (ICML 2024): flat pre-power phase, then a power law."""

    name = "rectified"
    formula = "L = B/(D_l + Df^beta) + E"
    params = ("B", "D_l", "beta", "E")
    meanings = (SCALE, PRE_POWER, DATA_EXPONENT, FLOOR)
    uses_x = False
    grid_axes = (AMPLITUDES, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        b, d, beta, e = t
        return [b - _rectifier(d, beta, ldf)[0], e]

    def _grads(self, t, lx, ldf):
        _, share = _rectifier(t[1], t[2], ldf)
        return [[1.0, -share, -(1.0 - share) * ldf, 0.0], [0.0, 0.0, 0.0, 1.0]]


@register_form
class RectifiedJoint(LawForm):
    """Joint rectified law: the paper's multiplicative law with Lin's pre-power phase in Df."""

    name = "rectified-joint"
    formula = "L = A X^-alpha / (D_l + Df^beta) + E"
    params = ("A", "alpha", "D_l", "beta", "E")
    meanings = (SCALE, SIZE_EXPONENT, PRE_POWER, DATA_EXPONENT, FLOOR)
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
        bases: Sequence[str] | None = None,
    ):
        """bases: the base parameter each free one stands for (by default the first one its column feeds)."""
        self._base, self.matrix, self.offset, self._free = base, matrix, offset, tuple(free)
        self.name, self.formula, self.params, self.uses_x = base.name, base.formula, base.params, base.uses_x
        self._label = label
        if bases is None:
            bases = [base.params[int(np.flatnonzero(matrix[:, j])[0])] for j in range(len(self._free))]
        self._free_base = dict(zip(self._free, bases, strict=True))  # a free parameter has its base's meaning
        self.tied: list[tuple[str, str]] = []
        self.fixed: dict[str, float] = {}

    def meaning(self, param: str) -> Meaning:
        return self._base.meaning(self._free_base.get(param, param))

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
        # e.g. "A[model]" (stage 1's A of the model-size factor) -> "a[model]"
        names = []
        for p in self._free:
            b = self._free_base[p]
            names.append(_internal_name(b, self.positive(b)) + (p[len(b) :] if p.startswith(b) else ""))
        return tuple(names)

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
                offset[row] = np.log(fixed[p]) if base.positive(p) else fixed[p]
            else:
                matrix[row, free.index(followers.get(p, p))] = 1.0
        names = [f"{f}={leader}" for leader, f in tied] + [f"{k}={v:g}" for k, v in fixed.items()]
        super().__init__(base, matrix, offset, free, f"{base.name}[{','.join(names)}]")
        self.tied, self.fixed = [(a, b) for a, b in tied], dict(fixed)


MULTIPLICATIVE = FORMS["multiplicative"]
ADDITIVE = FORMS["additive"]
POWER = FORMS["power"]
RECTIFIED = FORMS["rectified"]
RECTIFIED_JOINT = FORMS["rectified-joint"]
ADDITIVE_TIED = ADDITIVE.constrained(tied=[("alpha", "beta")])
