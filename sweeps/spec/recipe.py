"""How a sweep's points train and what they are scored on: the recipe (steps, validation, early stopping), the
transfer and retention evaluations, and the held-out rules of the fit."""

from typing import Any

from ftscale.sweeps.points import Recipe, Transfer
from ftscale.sweeps.spec.checks import check, config_class, is_int
from ftscale.sweeps.spec.schema import AXES, EvaluationFields, RecipeFields


def training_recipe(fields: RecipeFields, trainer: dict[str, Any]) -> Recipe:
    """A spec's `recipe` (its fields' types checked by the schema); the trainer options it sets may not be set in
    `trainer` as well."""
    names = ", ".join(RecipeFields.__dataclass_fields__)
    check(fields != RecipeFields(), "recipe", f"a mapping of at least one of {names}, got {{}}")
    epochs, max_steps, stopping = fields.epochs, fields.max_steps, fields.early_stopping
    check(fields.min_steps is None or epochs is not None, "recipe.min_steps", "recipe.epochs as well: it clamps them")
    min_steps = fields.min_steps or 1
    check(
        max_steps is None or max_steps >= min_steps,
        "recipe.max_steps",
        f"at least recipe.min_steps ({min_steps}), got {max_steps}",
    )
    sets = {
        "max_steps": epochs is not None or max_steps is not None,
        "val_check_interval": fields.val_check_interval is not None,
        "check_val_every_n_epoch": fields.val_check_interval is not None,
        "callbacks": stopping is not None,
    }
    twice = [f"trainer.{key}" for key, set_here in sets.items() if set_here and key in trainer]
    check(not twice, "recipe", f"the only setting of what it sets, but trainer also sets {twice}")
    return Recipe(
        epochs=epochs,
        min_steps=min_steps,
        max_steps=max_steps,
        val_check_interval=fields.val_check_interval,
        patience=stopping.patience if stopping else None,
        min_delta=float(stopping.min_delta) if stopping else 0.0,
    )


def evaluation(fields: EvaluationFields, field: str) -> Transfer:
    """A spec's `transfer` or `retention` (`field`, also the prefix of its metrics): a FinetuneDataModule config."""
    from ftscale.datamodules import FinetuneDataModule  # loads torch: see sweep_spec._resolve

    config_class(fields.data, f"{field}.data", FinetuneDataModule, "a datamodule config")
    shots = fields.shots
    check(
        shots and len(set(shots)) == len(shots),
        f"{field}.shots",
        f"a non-empty list of distinct non-negative integers (examples in each prompt), got {shots!r}",
    )
    return Transfer(fields.data, tuple(shots), field)


def fixed_steps(recipe: Recipe | None, trainer_steps: Any) -> int | None:
    """Steps per run when every run has the same: the recipe's fixed max_steps, else the trainer's."""
    if recipe is not None and (recipe.epochs is not None or recipe.max_steps is not None):
        return recipe.max_steps if recipe.epochs is None else None
    return trainer_steps if is_int(trainer_steps) and trainer_steps > 0 else None


def held_out_rules(raw: Any) -> dict[str, tuple[str, ...]]:
    """Held-out rules per axis: a list applies to every axis, a mapping gives each axis its own."""
    per_axis = raw if isinstance(raw, dict) else dict.fromkeys(AXES, raw)
    ok = set(per_axis) <= set(AXES) and all(
        isinstance(rules, list) and all(isinstance(r, str) and _is_rule(r) for r in rules)
        for rules in per_axis.values()
    )
    check(
        ok,
        "held_out",
        f"a list of rules KEY=VALUE such as x=max or df=max, or a mapping from axes {list(AXES)} to such lists, "
        f"got {raw!r}",
    )
    return {axis: tuple(per_axis.get(axis, ())) for axis in AXES}


def _is_rule(rule: str) -> bool:
    key, sep, value = rule.partition("=")
    return bool(sep and key.strip() and value.strip())
