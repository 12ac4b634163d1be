"""Sweep specs: a YAML file, validated field by field, that expands into points with stable ids."""

import importlib
import inspect
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ftscale.configs import config_path
from ftscale.errors import InputError, MissingFileError
from ftscale.sweeps.points import Backbone, Method, Point, Recipe, Transfer, expand, point_cli_args, point_dir

if TYPE_CHECKING:
    from ftscale.analysis.options import LawOptions
    from ftscale.backbones.params import ParameterCounts
    from ftscale.ladder.pretrain import PretrainConfig

__all__ = ["Point", "SweepSpec", "load_spec", "point_cli_args", "point_dir"]

AXES = ("model_size", "pretrain_tokens", "pet_size")
FIELDS = (
    "name", "base_config", "ladder", "task", "methods", "axes", "default_model", "default_size", "default_revision",
    "default_tokens", "train_sizes", "seeds", "held_out", "data", "trainer", "recipe", "transfer", "retention", "laws",
)  # fmt: skip
TOKENS_PER_PARAMETER = "tokens_per_parameter"  # a ladder checkpoint named by its tokens per parameter
RECIPE_FIELDS = ("epochs", "min_steps", "max_steps", "val_check_interval", "early_stopping")
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


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
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a sweep spec is a YAML mapping of {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise InputError(f"{path}: unknown field(s) {unknown}; the fields are {', '.join(FIELDS)}")
    return _validate(raw, resolve)


def _validate(raw: dict[str, Any], resolve: bool) -> SweepSpec:
    # Imported here, not at the top: they load torch and transformers, which runners draining a store
    # (they only need `point_cli_args`) and `ftscale sweep status` never need.
    from lightning import Trainer

    from ftscale.analysis.options import law_options  # the analysis reads `laws`, so it checks it

    name = raw.get("name")
    _check(isinstance(name, str) and name and "/" not in name, "name", f"a non-empty string without '/', got {name!r}")
    base = _yaml_file(raw.get("base_config"), "base_config")
    ladder = _ladder(raw)
    task = _yaml_file(raw["task"], "task") if "task" in raw else {}
    data_class_path = task.get("class_path") if "task" in raw else (base.get("data") or {}).get("class_path")
    _check(not task or isinstance(data_class_path, str), "task", "a datamodule config with a class_path")
    data_class = (
        _import(data_class_path, "task" if task else "base_config") if isinstance(data_class_path, str) else None
    )
    data = _dotted_mapping(raw.get("data", {}), "data")
    trainer = _dotted_mapping(raw.get("trainer", {}), "trainer")
    groups = {"data": data_class, "trainer": Trainer}
    _check_options("data", [f"data.{key}" for key in data], groups)
    _check_options("trainer", [f"trainer.{key}" for key in trainer], groups)

    def data_default(arg: str) -> Any:
        return data.get(arg, _data_default([task, base.get("data") or {}], data_class, arg))

    axes = raw.get("axes")
    _check(isinstance(axes, dict) and axes, "axes", f"a mapping with at least one of {', '.join(AXES)}")
    unknown = sorted(set(axes) - set(AXES))
    _check(not unknown, "axes", f"one of {', '.join(AXES)}, got {unknown}")
    size_axis, tokens_axis, default = _Models(raw, ladder, resolve).axes(axes)
    pet_axis = axes.get("pet_size", {})
    if "pet_size" in axes:
        _check(
            isinstance(pet_axis, dict) and pet_axis,
            "axes.pet_size",
            "a mapping of PET method -> [sizes] (or {model.<its PET-size argument>: [sizes]})",
        )
    methods = _methods(raw.get("methods"), pet_axis, groups)

    train_sizes = _train_sizes(raw.get("train_sizes"), "train_sizes")
    pool = data_default("pool_size")
    largest = max([*train_sizes, *(s for m in methods for s in m.train_sizes)])
    if isinstance(pool, int):
        field = "train_sizes" if largest in train_sizes else "methods.*.train_sizes"
        _check(largest <= pool, field, f"sizes at most the training pool (data.pool_size={pool}), got {largest}")
    seeds = raw.get("seeds", [0])
    _check(
        isinstance(seeds, list) and seeds and all(_is_int(s) for s in seeds) and len(set(seeds)) == len(seeds),
        "seeds",
        f"a non-empty list of distinct integers (subset seeds), got {seeds!r}",
    )
    batch_size = data_default("batch_size")
    recipe = _recipe(raw["recipe"], trainer) if "recipe" in raw else None
    spec = SweepSpec(
        name=name,
        base_config=raw["base_config"],
        ladder=raw.get("ladder"),
        task=raw.get("task"),
        methods=methods,
        size_axis=size_axis,
        tokens_axis=tokens_axis,
        default=default,
        train_sizes=tuple(train_sizes),
        seeds=tuple(seeds),
        held_out=held_out_rules(raw.get("held_out", [])),
        data=data,
        trainer=trainer,
        recipe=recipe,
        transfer=_transfer(raw["transfer"]) if "transfer" in raw else None,
        retention=_transfer(raw["retention"], "retention") if "retention" in raw else None,
        max_steps=_fixed_steps(recipe, trainer.get("max_steps", (base.get("trainer") or {}).get("max_steps"))),
        batch_size=batch_size,
        sequence_tokens=_sum_ints(data_default("max_source_tokens"), data_default("max_target_tokens")),
        laws=law_options(raw.get("laws")),
    )
    if recipe is not None and recipe.epochs is not None:
        unknown = [m.name for m in methods if not (_is_int(spec.batch_size_of(m)) and spec.batch_size_of(m) > 0)]
        _check(not unknown, "recipe.epochs", f"a data.batch_size to count steps by, none for methods {unknown}")
    return spec


class _Models:
    """The model_size and pretrain_tokens axes and the default model, resolved to backbones with parameter counts."""

    def __init__(self, raw: dict[str, Any], ladder: "PretrainConfig | None", resolve: bool) -> None:
        self.raw = raw
        self.ladder = ladder
        self.resolve = resolve
        self.counts: dict[tuple[str, str | None], ParameterCounts | None] = {}

    def axes(self, axes: dict[str, Any]) -> tuple[tuple[Backbone, ...], tuple[Backbone, ...], Backbone | None]:
        raw = self.raw
        _check(
            not ("default_model" in raw and "default_size" in raw),
            "default_model",
            "one of default_model and default_size (its older name), not both",
        )
        field = "default_model" if "default_model" in raw else "default_size"
        needs_default = "pretrain_tokens" in axes or "pet_size" in axes
        _check(
            field in raw or not needs_default,
            field,
            "a model (a ladder size, hub id or local directory; default_size is its older name): it is required with "
            "axes.pretrain_tokens or axes.pet_size",
        )
        names = self._names(axes["model_size"], "axes.model_size") if "model_size" in axes else []
        default = self._names([raw[field]], field)[0] if field in raw else None
        kinds = {self._kind(n, "") == "ladder" for n in [*names, *([default] if default else [])]}
        _check(
            len(kinds) <= 1,
            "axes.model_size",
            f"ladder sizes only or hub ids and local directories only, with {field} of the same kind",
        )
        if kinds == {True}:
            return self._ladder_axes(names, default, axes)
        return self._hub_axes(names, default, axes, field)

    def _ladder_axes(self, names: list[str], default: str | None, axes: dict[str, Any]) -> tuple:
        ladder = self.ladder
        _check(
            "default_revision" not in self.raw, "default_revision", "no revision: ladder checkpoints are token budgets"
        )
        tokens = _token_list(axes["pretrain_tokens"], ladder, default) if "pretrain_tokens" in axes else []

        def backbone(size: str, tokens: int | None = None) -> Backbone:
            """`size` at `tokens`, else at default_tokens (a size's own budget on a tokens_per_parameter ladder)."""
            if tokens is None:
                given = self.raw.get("default_tokens")
                field = "default_tokens"
                tokens = ladder.budgets(size)[-1] if given is None else _ladder_budget(given, ladder, size, field)
            return Backbone(size, size, None, tokens, self._counts(size, None, ""), ladder=True)

        return (
            tuple(backbone(size) for size in names),
            tuple(backbone(default, t) for t in tokens),
            backbone(default) if default else None,
        )

    def _hub_axes(self, names: list[str], default: str | None, axes: dict[str, Any], field: str) -> tuple:
        from ftscale.backbones.checkpoints import checkpoint_tokens
        from ftscale.backbones.loading import is_local_path

        revision = self.raw.get("default_revision")
        if revision is not None:
            _check(isinstance(revision, str) and revision, "default_revision", f"a hub revision, got {revision!r}")
            _check(
                default is not None and not is_local_path(default),
                "default_revision",
                f"a hub id as {field} (a local directory has no revisions), got {default!r}",
            )
        default_tokens = self.raw.get("default_tokens")
        _check(
            default_tokens is None or (_is_int(default_tokens) and default_tokens > 0),
            "default_tokens",
            f"the pretraining tokens of the default checkpoints, a positive integer, got {default_tokens!r}",
        )
        field_t = "axes.pretrain_tokens"
        checkpoints = checkpoint_tokens(axes["pretrain_tokens"], field_t) if "pretrain_tokens" in axes else {}
        if default_tokens is None:  # the checkpoint off the pretraining axis, when that axis names it
            default_tokens = checkpoints.get(revision or "main")

        def at_default_revision(model: str, field: str) -> Backbone:
            rev = None if is_local_path(model) else revision
            return Backbone(model, model, rev, default_tokens, self._counts(model, rev, field))

        size_axis = tuple(at_default_revision(name, "axes.model_size") for name in names)
        along = []
        for key, tokens in checkpoints.items():
            if is_local_path(key):  # a checkpoint directory of the default model
                self._names([key], field_t)
                along.append(Backbone(key, default, None, tokens, self._counts(key, None, field_t)))
            else:
                _check(
                    not is_local_path(default),
                    field_t,
                    f"local checkpoint directories: {field} {default!r} is a directory, with no revision {key!r}",
                )
                along.append(Backbone(default, default, key, tokens, self._counts(default, key, field_t)))
        return (
            size_axis,
            tuple(along),
            at_default_revision(default, field) if default else None,
        )

    def _names(self, values: Any, field: str) -> list[str]:
        """Model names checked for their kind: ladder sizes, hub ids or local directories (which must hold a model)."""
        sizes = (
            f"ladder sizes of the ladder config ({self.ladder.sizes})"
            if self.ladder
            else "ladder sizes (with a ladder)"
        )
        expected = f"{sizes}, hub ids (org/name) or local model directories"
        _check(isinstance(values, list) and values, field, f"a non-empty list of {expected}")
        unknown = [v for v in values if self._kind(v, field) is None]
        _check(not unknown, field, f"{expected}, got unknown {unknown}")
        _check(len(set(values)) == len(values), field, f"distinct models, got {values}")
        return values

    def _kind(self, value: Any, field: str) -> str | None:
        from ftscale.backbones.loading import is_local_path

        if self.ladder is not None and value in self.ladder.sizes:
            return "ladder"
        if not isinstance(value, str):
            return None
        if is_local_path(value):
            if field and not (Path(value).expanduser() / "config.json").is_file():
                raise MissingFileError(f"{field}: {value!r} is no Hugging Face model directory (no config.json there)")
            return "local"
        return "hub" if HUB_ID.fullmatch(value) else None

    def _counts(self, model: str, revision: str | None, field: str) -> "ParameterCounts | None":
        """Parameter counts, looked up once per model and revision; a missing model or revision fails naming both."""
        from ftscale.backbones.params import parameter_counts
        from ftscale.ladder.shapes import ladder_config

        key = (model, revision)
        if key not in self.counts:
            if self.ladder is not None and model in self.ladder.sizes:
                # Non-embedding counts do not depend on the vocabulary or token ids; the total uses the ladder's.
                self.counts[key] = parameter_counts(ladder_config(model, self.ladder.vocab_size, 1024, 1, 2, 0))
            elif self.resolve or self._kind(model, field) == "local":
                try:
                    self.counts[key] = parameter_counts(model, revision)
                except (ValueError, FileNotFoundError) as err:
                    raise type(err)(f"{field}: {err}") from None
            else:
                self.counts[key] = None
        return self.counts[key]


def _ladder(raw: dict[str, Any]) -> "PretrainConfig | None":
    from ftscale.ladder.pretrain import PretrainConfig  # see _validate

    if "ladder" not in raw:
        return None
    ladder_file = _yaml_file(raw["ladder"], "ladder")
    try:  # built directly: the config's own parser would exit with its usage on a bad file
        return PretrainConfig(**ladder_file)
    except (ValueError, TypeError) as error:
        raise InputError(f"ladder: {raw['ladder']} is not a valid pretraining config: {error}") from None


def _methods(raw: Any, pet_axis: dict[str, Any], groups: dict[str, type | None]) -> tuple[Method, ...]:
    from ftscale.lightning_modules import FinetuneModule  # see _validate

    _check(isinstance(raw, dict) and raw, "methods", "a mapping of method name -> {config, overrides}")
    unknown = sorted(set(pet_axis) - set(raw))
    _check(not unknown, "axes.pet_size", f"methods listed under methods ({sorted(raw)}), got {unknown}")
    methods = []
    for name, entry in raw.items():
        field = f"methods.{name}"
        _check(isinstance(entry, dict) and "config" in entry, field, "a mapping with a `config` (a method config file)")
        extra = sorted(set(entry) - {"config", "overrides", "train_sizes"})
        _check(not extra, field, f"only `config`, `overrides` and `train_sizes`, got {extra}")
        config = _yaml_file(entry["config"], f"{field}.config")
        _check(isinstance(config.get("class_path"), str), f"{field}.config", "a method config with a class_path")
        method_class = _import(config["class_path"], f"{field}.config")
        _check(
            isinstance(method_class, type) and issubclass(method_class, FinetuneModule),
            f"{field}.config",
            f"a method config whose class_path is a FinetuneModule, got {config['class_path']!r}",
        )
        overrides = _dotted_mapping(entry.get("overrides", {}), f"{field}.overrides")
        _check_options(f"{field}.overrides", overrides, groups | {"model": method_class})
        sizes = _train_sizes(entry["train_sizes"], f"{field}.train_sizes") if "train_sizes" in entry else []
        method = Method(
            name, entry["config"], overrides, method_class, config.get("init_args") or {}, train_sizes=tuple(sizes)
        )
        arg = method_class.pet_size_argument
        _check(
            arg is None or arg in _parameters(method_class),
            f"{field}.config",
            f"a class whose pet_size_argument is one of its arguments, got {arg!r} of {config['class_path']}",
        )
        if name in pet_axis:
            method = _with_pet_axis(method, config, pet_axis[name], f"axes.pet_size.{name}")
        elif arg is not None:  # off the axis the size is still a factor of its points, and their cost
            default = (config.get("init_args") or {}).get(arg, _parameters(method_class)[arg].default)
            method = replace(method, pet_default=overrides.get(f"model.{arg}", default))
        methods.append(method)
    return tuple(methods)


def _with_pet_axis(method: Method, config: dict, axis: Any, field: str) -> Method:
    arg = method.method_class.pet_size_argument
    _check(
        arg is not None,
        field,
        f"no entry: {config['class_path']} has no PET size (its pet_size_argument is None); "
        "put the method on the other axes only",
    )
    key = f"model.{arg}"
    if isinstance(axis, list):  # the sizes of the argument the class declares
        axis = {key: axis}
    _check(
        isinstance(axis, dict) and len(axis) == 1,
        field,
        f"a list of sizes or one {{{key}: [sizes]}} entry, e.g. {{{key}: [1, 2]}}",
    )
    ((given, values),) = axis.items()
    _check(given == key, field, f"{key} (the PET-size argument of {config['class_path']}), got {given!r}")
    parameters = _parameters(method.method_class)
    _check(
        isinstance(values, list) and values and all(_is_int(v) and v > 0 for v in values),
        field,
        f"a non-empty list of positive integers, got {values!r}",
    )
    _check(len(set(values)) == len(values), field, f"distinct sizes, got {values!r}")
    # The size off this axis: the spec's override, else the method config's, else the class default.
    overrides = dict(method.overrides)
    default = overrides.pop(key, (config.get("init_args") or {}).get(arg, parameters[arg].default))
    return replace(method, overrides=overrides, pet_key=key, pet_sizes=tuple(values), pet_default=default)


def _token_list(values: Any, ladder: "PretrainConfig", size: str) -> list[int]:
    """The pretraining axis of ladder size `size`: token budgets, or {tokens_per_parameter: [ratios]}."""
    field = "axes.pretrain_tokens"
    valid = [0, *ladder.budgets(size)]
    if isinstance(values, dict) and set(values) == {TOKENS_PER_PARAMETER}:
        ratios = values[TOKENS_PER_PARAMETER]
        _check(isinstance(ratios, list) and ratios, field, f"a non-empty list of tokens per parameter, got {ratios!r}")
        values = [_ladder_budget({TOKENS_PER_PARAMETER: r}, ladder, size, field) for r in ratios]
    expected = f"token budgets of {size} in the ladder config ({valid}), or {{{TOKENS_PER_PARAMETER}: [ratios]}}"
    _check(isinstance(values, list) and values, field, f"a non-empty list of {expected}")
    unknown = [v for v in values if not (_is_int(v) and v in valid)]
    _check(not unknown, field, f"{expected}, got unknown {unknown}")
    _check(len(set(values)) == len(values), field, f"distinct budgets, got {values}")
    return values


def _ladder_budget(value: Any, ladder: "PretrainConfig", size: str, field: str) -> int:
    """One checkpoint of ladder size `size`: a token budget (or 0), or {tokens_per_parameter: r}, which is r times
    its non-embedding parameters rounded up to whole pretraining steps, as the ladder config rounds its budgets."""
    valid = [0, *ladder.budgets(size)]
    ratio = value.get(TOKENS_PER_PARAMETER) if isinstance(value, dict) and len(value) == 1 else None
    if ratio is not None:
        _check(
            isinstance(ratio, int | float) and not isinstance(ratio, bool) and ratio > 0,
            field,
            f"{{{TOKENS_PER_PARAMETER}: <a positive number>}}, got {value!r}",
        )
        tokens = ladder.tokens_at(size, ratio)
        _check(
            tokens in valid,
            field,
            f"a checkpoint of {size}: {ratio} tokens per parameter is {tokens} tokens, and its budgets are {valid}",
        )
        return tokens
    _check(
        _is_int(value) and value in valid,
        field,
        f"a token budget of {size} in the ladder config ({valid}) or {{{TOKENS_PER_PARAMETER}: r}}, got {value!r}",
    )
    return value


def _recipe(raw: Any, trainer: dict[str, Any]) -> Recipe:
    """A spec's `recipe`, each field checked; the trainer options it sets may not be set in `trainer` as well."""
    _check(isinstance(raw, dict) and raw, "recipe", f"a mapping of {', '.join(RECIPE_FIELDS)}")
    unknown = sorted(set(raw) - set(RECIPE_FIELDS))
    _check(not unknown, "recipe", f"only {', '.join(RECIPE_FIELDS)}, got {unknown}")
    epochs = raw.get("epochs")
    _check(
        epochs is None or (isinstance(epochs, int | float) and not isinstance(epochs, bool) and epochs > 0),
        "recipe.epochs",
        f"a positive number of passes over each point's training subset, got {epochs!r}",
    )
    for key in ("min_steps", "max_steps", "val_check_interval"):
        value = raw.get(key)
        _check(value is None or (_is_int(value) and value > 0), f"recipe.{key}", f"a positive integer, got {value!r}")
    _check("min_steps" not in raw or epochs is not None, "recipe.min_steps", "recipe.epochs as well: it clamps them")
    min_steps, max_steps = raw.get("min_steps", 1), raw.get("max_steps")
    _check(
        max_steps is None or max_steps >= min_steps,
        "recipe.max_steps",
        f"at least recipe.min_steps ({min_steps}), got {max_steps}",
    )
    stopping = raw.get("early_stopping")
    if stopping is not None:
        _check(
            isinstance(stopping, dict) and "patience" in stopping and set(stopping) <= {"patience", "min_delta"},
            "recipe.early_stopping",
            f"{{patience, min_delta}} (early stopping on val/loss), got {stopping!r}",
        )
        patience, min_delta = stopping["patience"], stopping.get("min_delta", 0.0)
        _check(
            _is_int(patience) and patience > 0,
            "recipe.early_stopping.patience",
            f"a positive number of validations, got {patience!r}",
        )
        _check(
            isinstance(min_delta, int | float) and not isinstance(min_delta, bool) and min_delta >= 0,
            "recipe.early_stopping.min_delta",
            f"a non-negative number, got {min_delta!r}",
        )
    sets = {
        "max_steps": epochs is not None or max_steps is not None,
        "val_check_interval": "val_check_interval" in raw,
        "check_val_every_n_epoch": "val_check_interval" in raw,
        "callbacks": stopping is not None,
    }
    twice = [f"trainer.{key}" for key, set_here in sets.items() if set_here and key in trainer]
    _check(not twice, "recipe", f"the only setting of what it sets, but trainer also sets {twice}")
    return Recipe(
        epochs=epochs,
        min_steps=min_steps,
        max_steps=max_steps,
        val_check_interval=raw.get("val_check_interval"),
        patience=stopping["patience"] if stopping else None,
        min_delta=float(stopping.get("min_delta", 0.0)) if stopping else 0.0,
    )


def _transfer(raw: Any, field: str = "transfer") -> Transfer:
    """A spec's `transfer` or `retention` (the same shape; `field` is also the prefix of its metrics)."""
    from ftscale.datamodules import FinetuneDataModule

    _check(
        isinstance(raw, dict) and "data" in raw and set(raw) <= {"data", "shots"},
        field,
        f"{{data: <a datamodule config file>, shots: [k, ...]}}, got {raw!r}",
    )
    config = _yaml_file(raw["data"], f"{field}.data")
    _check(isinstance(config.get("class_path"), str), f"{field}.data", "a datamodule config with a class_path")
    data_class = _import(config["class_path"], f"{field}.data")
    _check(
        isinstance(data_class, type) and issubclass(data_class, FinetuneDataModule),
        f"{field}.data",
        f"a FinetuneDataModule config, got class_path {config['class_path']!r}",
    )
    shots = raw.get("shots", [0])
    _check(
        isinstance(shots, list)
        and shots
        and all(_is_int(k) and k >= 0 for k in shots)
        and len(set(shots)) == len(shots),
        f"{field}.shots",
        f"a non-empty list of distinct non-negative integers (examples in each prompt), got {shots!r}",
    )
    return Transfer(raw["data"], tuple(shots), field)


def _fixed_steps(recipe: Recipe | None, trainer_steps: Any) -> int | None:
    """Steps per run when every run has the same: the recipe's fixed max_steps, else the trainer's."""
    if recipe is not None and (recipe.epochs is not None or recipe.max_steps is not None):
        return recipe.max_steps if recipe.epochs is None else None
    return trainer_steps if _is_int(trainer_steps) and trainer_steps > 0 else None


def _sum_ints(*values: Any) -> int | None:
    return sum(values) if all(_is_int(v) for v in values) else None


def _train_sizes(raw: Any, field: str) -> list[int]:
    from ftscale.datamodules.subsets import log_spaced_sizes  # see _validate

    if isinstance(raw, dict):
        _check(set(raw) == {"min", "max", "num"}, field, f"{{min, max, num}} or a list, got keys {sorted(raw)}")
        _check(all(_is_int(v) for v in raw.values()), field, f"integer min, max and num, got {raw}")
        try:
            return log_spaced_sizes(raw["min"], raw["max"], raw["num"])
        except ValueError as error:
            raise InputError(f"{field}: {error}") from None
    _check(
        isinstance(raw, list) and raw and all(_is_int(v) and v > 0 for v in raw),
        field,
        f"{{min, max, num}} or a non-empty list of positive integers, got {raw!r}",
    )
    duplicates = sorted({v for v in raw if raw.count(v) > 1})
    _check(not duplicates, field, f"distinct sizes (each would be the same points twice), got duplicates {duplicates}")
    return sorted(raw)


def _dotted_mapping(raw: Any, field: str) -> dict[str, Any]:
    _check(isinstance(raw, dict) and all(isinstance(k, str) for k in raw), field, "a mapping of dotted option -> value")
    return dict(raw)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a ValueError naming the file (and the line) when it is not YAML text."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a YAML file (byte 0x{error.object[error.start]:02x} at offset {error.start} "
                         "is not UTF-8 text)") from None  # fmt: skip
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None


def _yaml_file(value: Any, field: str) -> dict[str, Any]:
    _check(isinstance(value, str) and config_path(value).is_file(), field, f"an existing file, got {value!r}")
    content = read_yaml(config_path(value))
    _check(isinstance(content, dict), field, f"a YAML mapping, but {value} is not one")
    return content


def _data_default(configs: list[dict[str, Any]], data_class: type | None, arg: str) -> Any:
    """The first config's data argument (a task file, then the base config's data), else the class default."""
    for config in configs:
        init_args = config.get("init_args") or {}
        if arg in init_args:
            return init_args[arg]
    parameter = _parameters(data_class).get(arg) if data_class else None
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The init arguments of a class, following `**kwargs` up to its bases as LightningCLI does."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
        found |= {p.name: p for p in named if p.name not in found}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return found


def _check_options(field: str, keys: list[str], groups: dict[str, type | None]) -> None:
    """Refuse `model.*`, `data.*` and `trainer.*` options that are no argument of that group's class."""
    for key in keys:
        group, _, rest = key.partition(".")
        cls = groups.get(group)
        arg = rest.removeprefix("init_args.").partition(".")[0]
        if cls is not None and arg not in _parameters(cls):
            raise InputError(f"{field}: {key!r} is not an argument of {cls.__module__}.{cls.__qualname__}")


def _import(class_path: str, field: str) -> type:
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"{field}: class_path {class_path!r} cannot be imported") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def held_out_rules(raw: Any) -> dict[str, tuple[str, ...]]:
    """Held-out rules per axis: a list applies to every axis, a mapping gives each axis its own."""
    per_axis = raw if isinstance(raw, dict) else dict.fromkeys(AXES, raw)
    ok = set(per_axis) <= set(AXES) and all(
        isinstance(rules, list) and all(isinstance(r, str) and _is_rule(r) for r in rules)
        for rules in per_axis.values()
    )
    _check(
        ok,
        "held_out",
        f"a list of rules KEY=VALUE such as x=max or df=max, or a mapping from axes {list(AXES)} to such lists, "
        f"got {raw!r}",
    )
    return {axis: tuple(per_axis.get(axis, ())) for axis in AXES}


def _is_rule(rule: str) -> bool:
    key, sep, value = rule.partition("=")
    return bool(sep and key.strip() and value.strip())


def _check(ok: Any, field: str, expected: str) -> None:
    if not ok:
        raise InputError(f"{field}: expected {expected}")
