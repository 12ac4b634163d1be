"""A sweep spec: the YAML file read against its schema (schema.py), resolved into models (models.py), methods
(methods.py) and how points train and are scored (recipe.py); it expands into points with stable ids."""

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftscale.configs import config_path
from ftscale.errors import MissingFileError
from ftscale.sweeps.points import Backbone, Method, Point, Recipe, Transfer, expand
from ftscale.sweeps.spec.checks import (
    check,
    check_options,
    finetuning_sizes,
    import_class,
    is_int,
    parameters,
    read_yaml,
    yaml_file,
)
from ftscale.sweeps.spec.methods import resolve_methods
from ftscale.sweeps.spec.models import ModelAxes, read_ladder
from ftscale.sweeps.spec.recipe import evaluation, fixed_steps, held_out_rules, training_recipe
from ftscale.sweeps.spec.schema import AXES, SpecFile, read_spec_file

if TYPE_CHECKING:
    from ftscale.analysis.options import LawOptions


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see `configs/sweeps/demo.yaml` and `configs/sweeps/pythia_wmt14.yaml`)."""

    name: str
    base_config: str
    ladder: str | None  # the pretraining config of `ladder:<size>@<tokens>` backbones; None for hub-only specs
    task: str | None  # a datamodule config passed as `--data` after the base config
    methods: tuple[Method, ...]
    size_axis: tuple[Backbone, ...]
    tokens_axis: tuple[Backbone, ...]
    default: Backbone | None  # the backbone of the pet_size axis (and of the shared default point)
    train_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    held_out: dict[str, tuple[str, ...]]  # axis -> rules of the points kept out of the fit
    data: dict[str, Any]
    trainer: dict[str, Any]
    recipe: Recipe | None
    transfer: Transfer | None
    retention: Transfer | None  # like transfer, on a task whose target language the finetuning does not train
    max_steps: int | None  # steps per run, when the same for every run
    batch_size: int | None  # the spec's data.batch_size (a method may override it)
    sequence_tokens: int | None  # max source + target tokens of a training example
    laws: "LawOptions"  # the candidate law forms, the primary form, the sharing, the decision's target

    @property
    def model_sizes(self) -> tuple[str, ...]:
        return tuple(b.model_size for b in self.size_axis)

    @property
    def default_size(self) -> str | None:
        return self.default.model_size if self.default else None

    @property
    def ladder_sizes(self) -> tuple[str, ...]:
        """The ladder sizes the points finetune (to pretrain before a sweep); empty for hub models."""
        used = [*self.size_axis, *self.tokens_axis, *([self.default] if self.default else [])]
        return tuple(sorted({b.model for b in used if b.ladder}))

    @property
    def evaluations(self) -> tuple[Transfer, ...]:
        """The zero- and few-shot evaluations every point (and each untrained backbone) runs: transfer, retention."""
        return tuple(e for e in (self.transfer, self.retention) if e is not None)

    def batch_size_of(self, method: Method) -> int | None:
        return method.overrides.get(
            "data.batch_size", method.overrides.get("data.init_args.batch_size", self.batch_size)
        )

    def points(self) -> list[Point]:
        """Every point of the sweep, finetuning points first (see `sweeps.points.expand`)."""
        return expand(self)


def load_spec(path: str | Path, resolve: bool = True) -> SweepSpec:
    """Read and validate a sweep spec; every error is a ValueError (FileNotFoundError for a missing model) that names
    the offending field and value.

    `resolve=False` checks everything that needs neither the Hugging Face hub nor its cache: hub models and revisions
    are not looked up, and their parameter counts are None.
    """
    given, path = path, config_path(path)
    if not path.is_file():
        raise MissingFileError(f"sweep spec {str(given)!r} does not exist")
    return _resolve(read_spec_file(read_yaml(path), path), resolve)


def _resolve(spec: SpecFile, resolve: bool) -> SweepSpec:
    # Imported here, not at the top: they load torch and transformers, which runners draining a store
    # (they only need `point_cli_args`) and `ftscale sweep status` never need.
    from lightning import Trainer

    from ftscale.analysis.options import law_options  # the analysis reads `laws`, so it checks it

    name = spec.name
    check(name and "/" not in name, "name", f"a non-empty string without '/', got {name!r}")
    base = yaml_file(spec.base_config, "base_config")
    ladder = read_ladder(spec.ladder)
    task = yaml_file(spec.task, "task") if spec.task is not None else {}
    data_class_path = task.get("class_path") if spec.task is not None else (base.get("data") or {}).get("class_path")
    check(not task or isinstance(data_class_path, str), "task", "a datamodule config with a class_path")
    data_class = (
        import_class(data_class_path, "task" if task else "base_config") if isinstance(data_class_path, str) else None
    )
    groups = {"data": data_class, "trainer": Trainer}
    check_options("data", spec.data, groups, prefix="data.")
    check_options("trainer", spec.trainer, groups, prefix="trainer.")

    def data_default(arg: str) -> Any:
        return spec.data.get(arg, _data_default([task, base.get("data") or {}], data_class, arg))

    axes = spec.axes
    given = [axis for axis in AXES if getattr(axes, axis) is not None]
    check(given, "axes", f"a mapping with at least one of {', '.join(AXES)}")
    size_axis, tokens_axis, default = ModelAxes(spec, ladder, resolve).axes()
    pet_axis = axes.pet_size if axes.pet_size is not None else {}
    if axes.pet_size is not None:
        check(
            pet_axis,
            "axes.pet_size",
            "a mapping of PET method -> [sizes] (or {model.<its PET-size argument>: [sizes]})",
        )
    methods = resolve_methods(spec.methods, pet_axis, groups)

    train_sizes = finetuning_sizes(spec.train_sizes, "train_sizes")
    pool = data_default("pool_size")
    largest = max([*train_sizes, *(s for m in methods for s in m.train_sizes)])
    if isinstance(pool, int):
        field = "train_sizes" if largest in train_sizes else "methods.*.train_sizes"
        check(largest <= pool, field, f"sizes at most the training pool (data.pool_size={pool}), got {largest}")
    seeds = spec.seeds
    check(
        seeds and len(set(seeds)) == len(seeds),
        "seeds",
        f"a non-empty list of distinct integers (subset seeds), got {seeds!r}",
    )
    recipe = training_recipe(spec.recipe, spec.trainer) if spec.recipe is not None else None
    sweep = SweepSpec(
        name=name,
        base_config=spec.base_config,
        ladder=spec.ladder,
        task=spec.task,
        methods=methods,
        size_axis=size_axis,
        tokens_axis=tokens_axis,
        default=default,
        train_sizes=tuple(train_sizes),
        seeds=tuple(seeds),
        held_out=held_out_rules(spec.held_out),
        data=dict(spec.data),
        trainer=dict(spec.trainer),
        recipe=recipe,
        transfer=evaluation(spec.transfer, "transfer") if spec.transfer is not None else None,
        retention=evaluation(spec.retention, "retention") if spec.retention is not None else None,
        max_steps=fixed_steps(recipe, spec.trainer.get("max_steps", (base.get("trainer") or {}).get("max_steps"))),
        batch_size=data_default("batch_size"),
        sequence_tokens=_sum_ints(data_default("max_source_tokens"), data_default("max_target_tokens")),
        laws=law_options(spec.laws),
    )
    if recipe is not None and recipe.epochs is not None:
        unknown = [m.name for m in methods if not (is_int(sweep.batch_size_of(m)) and sweep.batch_size_of(m) > 0)]
        check(not unknown, "recipe.epochs", f"a data.batch_size to count steps by, none for methods {unknown}")
    return sweep


def _data_default(configs: list[dict[str, Any]], data_class: type | None, arg: str) -> Any:
    """The first config's data argument (a task file, then the base config's data), else the class default."""
    for config in configs:
        init_args = config.get("init_args") or {}
        if arg in init_args:
            return init_args[arg]
    parameter = parameters(data_class).get(arg) if data_class else None
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _sum_ints(*values: Any) -> int | None:
    return sum(values) if all(is_int(v) for v in values) else None
