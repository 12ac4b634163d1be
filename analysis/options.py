"""What a sweep's spec says about its laws (`laws:`): the candidate forms, the primary form, the sharing, the target."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ftscale import scaling_laws as sl
from ftscale.errors import InputError

# The form table's candidates when the spec names none: the paper's law, Chinchilla's and Lin et al.'s joint one.
FORMS = ("multiplicative", "additive", "rectified-joint")
PRIMARY = "multiplicative"  # the paper's law: the laws the claims, critical sizes and decisions read
CV = "cv"  # the sharing cross-validation prefers, per method
# Parameters that describe the finetuning data, not the factor X, so the laws of one method may share them across
# the model-size and pretraining axes (the paper shares beta and E); the sharing options cross-validation weighs.
SHAREABLE = (sl.DATA_EXPONENT, sl.FLOOR)
TARGET_KEYS = ("model_size", "pretrain_tokens", "train_size")  # X of an axis, or Df
FIELDS = ("forms", "primary", "share", "target")


@dataclass(frozen=True)
class LawOptions:
    """A sweep's choices about its laws.

    forms: the candidates of the form table (registered names or `my_pkg.MyForm` class paths), each chosen by
    cross-validation per method x axis; primary: the form of the two-stage laws that the claims, critical sizes and
    decisions read (always a candidate too); share: the primary form's parameters a method's laws share across axes,
    or `cv` (per method, the option cross-validation prefers); target: the (X, Df) of the decision per axis
    (`model_size`, `pretrain_tokens`: X; `train_size`: Df), by default the largest the sweep measured.
    """

    forms: tuple[str, ...] = FORMS
    primary: str = PRIMARY
    share: str | tuple[str, ...] = CV
    target: dict[str, float] = field(default_factory=dict)

    @property
    def primary_form(self) -> sl.LawForm:
        return sl.get_form(self.primary)

    @property
    def candidates(self) -> tuple[sl.LawForm, ...]:
        """The form table's forms: the primary one first, then the others in the spec's order."""
        names = dict.fromkeys([self.primary, *self.forms])
        return tuple(sl.get_form(name) for name in names)

    def sharing_options(self) -> dict[str, tuple[str, ...]]:
        """The sharings to choose from (label -> parameters): the spec's one, or with `cv` every subset of the
        primary form's data exponent and floor, the paper's (both) first so that it wins ties."""
        if self.share != CV:
            return {label(self.share): tuple(self.share)}
        form = self.primary_form
        names = [p for p in (form.parameter(m) for m in SHAREABLE) if p is not None]
        subsets = [c for k in range(len(names), -1, -1) for c in itertools.combinations(names, k)]
        return {label(s): s for s in subsets}


def label(shared: tuple[str, ...] | list[str]) -> str:
    """A sharing's name: its parameters (`beta, E`), or `none`."""
    return ", ".join(shared) or "none"


def law_options(raw: Any) -> LawOptions:
    """A spec's `laws` field checked: InputError naming the field and what would be valid."""
    if raw is None:
        return LawOptions()
    if not isinstance(raw, Mapping) or set(raw) - set(FIELDS):
        raise InputError(f"laws: expected a mapping of {', '.join(FIELDS)}, got {raw!r}")
    forms = raw.get("forms", list(FORMS))
    if not (isinstance(forms, list) and forms and all(isinstance(f, str) for f in forms)):
        raise InputError(f"laws.forms: expected a non-empty list of law names or my_pkg.MyForm paths, got {forms!r}")
    for name in forms:
        _form(name, "laws.forms")
    primary = _form(raw.get("primary", PRIMARY), "laws.primary")
    share = raw.get("share", CV)
    if share != CV:
        exponent = primary.parameter(sl.SIZE_EXPONENT)
        scale = primary.parameter(sl.SCALE)
        allowed = [p for p in primary.params if p not in (exponent, scale)]  # A X^-alpha differs with the axis's X
        if not (isinstance(share, list) and all(p in allowed for p in share) and len(set(share)) == len(share)):
            raise InputError(
                f"laws.share: expected {CV} or a list of distinct parameters of the {primary.name} law among "
                f"{allowed} (e.g. [beta, E], [E] or []), got {share!r}"
            )
        share = tuple(share)
    target = raw.get("target", {})
    if not (
        isinstance(target, Mapping)
        and set(target) <= set(TARGET_KEYS)
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in target.values())
    ):
        keys = ", ".join(TARGET_KEYS)
        raise InputError(f"laws.target: expected a mapping of {keys} to positive numbers, got {target!r}")
    return LawOptions(tuple(forms), raw.get("primary", PRIMARY), share, {k: float(v) for k, v in target.items()})


def _form(name: Any, where: str) -> sl.LawForm:
    if not isinstance(name, str):
        raise InputError(f"{where}: expected a law name or a my_pkg.MyForm class path, got {name!r}")
    try:
        form = sl.get_form(name)
    except sl.ScalingLawError as error:
        raise InputError(f"{where}: {error}") from None
    if not form.uses_x:
        raise InputError(f"{where}: {name} ignores X; a sweep's laws are joint in X and Df ({', '.join(FORMS)}, ...)")
    return form
