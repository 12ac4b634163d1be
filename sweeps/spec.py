"""Sweep specs: a YAML file, validated field by field, that expands into points with stable ids."""

import hashlib
import importlib
import inspect
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ftscale.backbones.pretrain import PretrainConfig

AXES = ("model_size", "pretrain_tokens", "pet_size")
FIELDS = (
    "name", "base_config", "ladder", "methods", "axes", "default_size", "default_tokens", "train_sizes", "seeds",
    "held_out", "data", "trainer",
)  # fmt: skip


@dataclass(frozen=True)
class Point:
    """One finetuning run of a sweep: a method at one value of each factor."""

    id: str
    method: str
    axes: tuple[str, ...]  # every axis the point lies on (the default point lies on several)
    factors: dict[str, Any]  # model_size, non_embedding_params, pretrain_tokens, pet_size, train_size, seed
    args: tuple[str, ...]  # `ftscale fit` arguments, without the run directory

    def cli_args(self, sweep_dir: str | Path) -> list[str]:
        """Arguments of `FtscaleCLI` that run this point into `<sweep_dir>/points/<id>`."""
        return point_cli_args(self.args, sweep_dir, self.id)


def point_dir(sweep_dir: str | Path, point_id: str) -> Path:
    return Path(sweep_dir) / "points" / point_id


def point_cli_args(args: list[str] | tuple[str, ...], sweep_dir: str | Path, point_id: str) -> list[str]:
    """A stored point's arguments plus its run directory."""
    return [*args, "--trainer.default_root_dir", str(point_dir(sweep_dir, point_id))]


@dataclass(frozen=True)
class Method:
    name: str
    config: str
    overrides: dict[str, Any]
    pet_key: str | None = None  # the PET-size argument (model.rank, model.num_virtual_tokens) if on the pet_size axis
    pet_sizes: tuple[int, ...] = ()
    pet_default: int | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see `configs/sweeps/demo.yaml` for the format)."""

    name: str
    base_config: str
    ladder: str
    methods: tuple[Method, ...]
    model_sizes: tuple[str, ...]
    pretrain_tokens: tuple[int, ...]
    default_size: str
    default_tokens: int
    train_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    held_out: dict[str, tuple[str, ...]]  # axis -> rules of the points kept out of the fit
    data: dict[str, Any]
    trainer: dict[str, Any]
    non_embedding_params: dict[str, int]
    max_steps: int | None  # steps per run, when fixed by the trainer settings
    batch_size: int | None

    def points(self) -> list[Point]:
        """Expand one factor at a time (the others at their defaults), crossed with train sizes, seeds and methods.

        A point reached from several axes (the default point) is kept once and remembers each axis.
        """
        points: dict[str, Point] = {}
        for method in self.methods:
            pet = method.pet_default
            settings = [("model_size", size, self.default_tokens, pet) for size in self.model_sizes]
            settings += [("pretrain_tokens", self.default_size, tokens, pet) for tokens in self.pretrain_tokens]
            settings += [("pet_size", self.default_size, self.default_tokens, v) for v in method.pet_sizes]
            for axis, size, tokens, pet_size in settings:
                for train_size in self.train_sizes:
                    for seed in self.seeds:
                        point = self._point(method, axis, size, tokens, pet_size, train_size, seed)
                        known = points.get(point.id)
                        if known is None:
                            points[point.id] = point
                        elif axis not in known.axes:
                            points[point.id] = replace(known, axes=(*known.axes, axis))
        return list(points.values())

    def _point(
        self, method: Method, axis: str, size: str, tokens: int, pet_size: int | None, train_size: int, seed: int
    ) -> Point:
        args = [
            "fit", "--config", self.base_config, "--ladder", self.ladder, "--model", method.config,
            "--model.backbone", f"ladder:{size}@{tokens}",
        ]  # fmt: skip
        args += _flags("", method.overrides)
        if method.pet_key is not None:
            args += _flags("", {method.pet_key: pet_size})
        args += ["--data.train_size", str(train_size), "--data.subset_seed", str(seed)]
        args += _flags("data.", self.data) + _flags("trainer.", self.trainer)
        factors = {
            "model_size": size,
            "non_embedding_params": self.non_embedding_params.get(size),
            "pretrain_tokens": tokens,
            "pet_size": pet_size,
            "train_size": train_size,
            "seed": seed,
        }
        point_id = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:12]
        return Point(point_id, method.name, (axis,), factors, tuple(args))


def _flags(prefix: str, values: dict[str, Any]) -> list[str]:
    """`--<prefix><key> <value>` pairs in key order, so reordering a YAML mapping keeps the ids."""
    flags = []
    for key in sorted(values):
        value = values[key]
        flags += [f"--{prefix}{key}", value if isinstance(value, str) else json.dumps(value)]
    return flags


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; every error is a ValueError that names the offending field."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep spec {str(path)!r} does not exist")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a sweep spec is a YAML mapping of {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}; the fields are {', '.join(FIELDS)}")
    return _validate(raw)


def _validate(raw: dict[str, Any]) -> SweepSpec:
    # Imported here, not at the top: they load torch and transformers, which runners draining a store
    # (they only need `point_cli_args`) and `ftscale sweep status` never need.
    from lightning import Trainer

    from ftscale.backbones.pretrain import PretrainConfig

    name = raw.get("name")
    _check(isinstance(name, str) and name and "/" not in name, "name", f"a non-empty string without '/', got {name!r}")
    base = _yaml_file(raw.get("base_config"), "base_config")
    ladder_file = _yaml_file(raw.get("ladder"), "ladder")
    try:  # built directly: the config's own parser would exit with its usage on a bad file
        ladder = PretrainConfig(**ladder_file)
    except (ValueError, TypeError) as error:
        raise ValueError(f"ladder: {raw['ladder']} is not a valid pretraining config: {error}") from None
    data = _dotted_mapping(raw.get("data", {}), "data")
    trainer = _dotted_mapping(raw.get("trainer", {}), "trainer")
    data_class = (base.get("data") or {}).get("class_path")
    groups = {"data": _import(data_class) if isinstance(data_class, str) else None, "trainer": Trainer}
    _check_options("data", [f"data.{key}" for key in data], groups)
    _check_options("trainer", [f"trainer.{key}" for key in trainer], groups)

    axes = raw.get("axes")
    _check(isinstance(axes, dict) and axes, "axes", f"a mapping with at least one of {', '.join(AXES)}")
    unknown = sorted(set(axes) - set(AXES))
    _check(not unknown, "axes", f"one of {', '.join(AXES)}, got {unknown}")
    model_sizes = _sizes(axes.get("model_size"), "axes.model_size", ladder) if "model_size" in axes else ()
    tokens = _token_list(axes.get("pretrain_tokens"), ladder) if "pretrain_tokens" in axes else ()
    default_tokens = raw.get("default_tokens", max(ladder.token_budgets))
    _check(
        default_tokens in [*ladder.token_budgets, 0],
        "default_tokens",
        f"a token budget of {raw['ladder']} ({ladder.token_budgets}) or 0, got {default_tokens!r}",
    )
    needs_default = "pretrain_tokens" in axes or "pet_size" in axes
    _check(
        "default_size" in raw or not needs_default,
        "default_size",
        "a ladder size: it is required with axes.pretrain_tokens or axes.pet_size",
    )
    default_size = _sizes([raw["default_size"]], "default_size", ladder)[0] if "default_size" in raw else None
    pet_axis = axes.get("pet_size", {})
    if "pet_size" in axes:
        _check(
            isinstance(pet_axis, dict) and pet_axis,
            "axes.pet_size",
            "a mapping of PET method -> {model.<arg>: [sizes]}",
        )
    methods = _methods(raw.get("methods"), pet_axis, groups)

    train_sizes = _train_sizes(raw.get("train_sizes"))
    pool = data.get("pool_size", _data_default(base, groups["data"], "pool_size"))
    if isinstance(pool, int):
        _check(
            max(train_sizes) <= pool,
            "train_sizes",
            f"sizes at most the training pool (data.pool_size={pool}), got {max(train_sizes)}",
        )
    seeds = raw.get("seeds", [0])
    _check(
        isinstance(seeds, list) and seeds and all(_is_int(s) for s in seeds) and len(set(seeds)) == len(seeds),
        "seeds",
        f"a non-empty list of distinct integers (subset seeds), got {seeds!r}",
    )
    held_out = _held_out(raw.get("held_out", []))
    sizes_used = sorted({*model_sizes, *([default_size] if default_size else [])})
    max_steps = trainer.get("max_steps", (base.get("trainer") or {}).get("max_steps"))
    return SweepSpec(
        name=name,
        base_config=raw["base_config"],
        ladder=raw["ladder"],
        methods=methods,
        model_sizes=tuple(model_sizes),
        pretrain_tokens=tuple(tokens),
        default_size=default_size,
        default_tokens=default_tokens,
        train_sizes=tuple(train_sizes),
        seeds=tuple(seeds),
        held_out=held_out,
        data=data,
        trainer=trainer,
        non_embedding_params={size: _non_embedding_params(size) for size in sizes_used},
        max_steps=max_steps if _is_int(max_steps) and max_steps > 0 else None,
        batch_size=data.get("batch_size", _data_default(base, groups["data"], "batch_size")),
    )


def _methods(raw: Any, pet_axis: dict[str, Any], groups: dict[str, type | None]) -> tuple[Method, ...]:
    _check(isinstance(raw, dict) and raw, "methods", "a mapping of method name -> {config, overrides}")
    unknown = sorted(set(pet_axis) - set(raw))
    _check(not unknown, "axes.pet_size", f"methods listed under methods ({sorted(raw)}), got {unknown}")
    methods = []
    for name, entry in raw.items():
        field = f"methods.{name}"
        _check(isinstance(entry, dict) and "config" in entry, field, "a mapping with a `config` (a method config file)")
        extra = sorted(set(entry) - {"config", "overrides"})
        _check(not extra, field, f"only `config` and `overrides`, got {extra}")
        config = _yaml_file(entry["config"], f"{field}.config")
        _check(isinstance(config.get("class_path"), str), f"{field}.config", "a method config with a class_path")
        method_class = _import(config["class_path"], f"{field}.config")
        overrides = _dotted_mapping(entry.get("overrides", {}), f"{field}.overrides")
        _check_options(f"{field}.overrides", overrides, groups | {"model": method_class})
        method = Method(name, entry["config"], overrides)
        if name in pet_axis:
            method = _with_pet_axis(method, method_class, config, pet_axis[name], f"axes.pet_size.{name}")
        methods.append(method)
    return tuple(methods)


def _with_pet_axis(method: Method, method_class: type, config: dict, axis: Any, field: str) -> Method:
    _check(
        isinstance(axis, dict) and len(axis) == 1, field, "one {model.<arg>: [sizes]} entry, e.g. {model.rank: [1, 2]}"
    )
    ((key, values),) = axis.items()
    arg = str(key).removeprefix("model.")
    parameters = _parameters(method_class)
    _check(
        str(key).startswith("model.") and arg in parameters,
        field,
        f"model.<an argument of {config['class_path']}>, got {key!r}",
    )
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


def _sizes(values: Any, field: str, ladder: "PretrainConfig") -> list[str]:
    _check(isinstance(values, list) and values, field, f"a non-empty list of ladder sizes from {ladder.sizes}")
    unknown = [v for v in values if v not in ladder.sizes]
    _check(not unknown, field, f"ladder sizes of the ladder config ({ladder.sizes}), got unknown {unknown}")
    _check(len(set(values)) == len(values), field, f"distinct sizes, got {values}")
    return values


def _token_list(values: Any, ladder: "PretrainConfig") -> list[int]:
    field = "axes.pretrain_tokens"
    valid = [0, *ladder.token_budgets]
    _check(isinstance(values, list) and values, field, f"a non-empty list of token budgets from {valid}")
    unknown = [v for v in values if v not in valid]
    _check(not unknown, field, f"token budgets of the ladder config ({valid}), got unknown {unknown}")
    _check(len(set(values)) == len(values), field, f"distinct budgets, got {values}")
    return values


def _train_sizes(raw: Any) -> list[int]:
    from ftscale.datamodules.subsets import log_spaced_sizes  # see _validate

    field = "train_sizes"
    if isinstance(raw, dict):
        _check(set(raw) == {"min", "max", "num"}, field, f"{{min, max, num}} or a list, got keys {sorted(raw)}")
        _check(all(_is_int(v) for v in raw.values()), field, f"integer min, max and num, got {raw}")
        try:
            return log_spaced_sizes(raw["min"], raw["max"], raw["num"])
        except ValueError as error:
            raise ValueError(f"{field}: {error}") from None
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


def _yaml_file(value: Any, field: str) -> dict[str, Any]:
    _require_file(value, field)
    content = yaml.safe_load(Path(value).read_text())
    _check(isinstance(content, dict), field, f"a YAML mapping, but {value} is not one")
    return content


def _require_file(value: Any, field: str) -> None:
    _check(isinstance(value, str) and Path(value).is_file(), field, f"an existing file, got {value!r}")


def _data_default(base: dict[str, Any], data_class: type | None, arg: str) -> Any:
    """The base config's data argument, else the data class's default (None if the class has no such argument)."""
    init_args = (base.get("data") or {}).get("init_args") or {}
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
            raise ValueError(f"{field}: {key!r} is not an argument of {cls.__module__}.{cls.__qualname__}")


def _non_embedding_params(size: str) -> int:
    """Non-embedding parameters of a ladder size, counted on a meta-device model (nothing allocated)."""
    import torch
    from transformers import LlamaForCausalLM

    from ftscale.backbones.ladder import ladder_config

    with torch.device("meta"):
        model = LlamaForCausalLM(ladder_config(size, 256, 1024, 1, 2, 0))
    return model.num_parameters(exclude_embeddings=True)


def _import(class_path: str, field: str = "base_config") -> type:
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"{field}: class_path {class_path!r} cannot be imported") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _held_out(raw: Any) -> dict[str, tuple[str, ...]]:
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
        raise ValueError(f"{field}: expected {expected}")
