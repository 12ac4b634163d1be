"""A sweep's points: one factor at a time, crossed with finetuning sizes, seeds and methods, with stable ids."""

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftscale.backbones.params import ParameterCounts

if TYPE_CHECKING:
    from ftscale.lightning_modules import FinetuneModule
    from ftscale.sweeps.spec import SweepSpec

BASE_METHOD = "base"  # the method name of the points that score a backbone before finetuning
EARLY_STOPPING = "lightning.pytorch.callbacks.EarlyStopping"


@dataclass(frozen=True)
class Point:
    """One run of a sweep: a method at one value of each factor (or, for method `base`, an untrained backbone)."""

    id: str
    method: str
    axes: tuple[str, ...]  # every axis the point lies on (the default point lies on several; base points none)
    # model_size, non_embedding_params, pretrain_tokens, pet_size, train_size, seed, model, revision, total_params,
    # full_model_tuning (what the method class declares: the analysis, torch-free, finds FMT by it)
    factors: dict[str, Any]
    args: tuple[str, ...]  # `ftscale fit` (`test` for base points) arguments, without the run directory

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
    """A method of a sweep: its config file, the spec's overrides of it, and the class the config names, which
    declares what the sweep needs to know (PET-size argument, trainable parameters, FLOPs, untrained outputs)."""

    name: str
    config: str
    overrides: dict[str, Any]
    method_class: type["FinetuneModule"]
    config_args: dict[str, Any] = field(default_factory=dict)  # the config file's init_args
    pet_key: str | None = None  # the PET-size argument (model.rank, model.num_virtual_tokens) if on the pet_size axis
    pet_sizes: tuple[int, ...] = ()
    pet_default: int | None = None  # the PET size off the pet_size axis (None for a method without one)
    train_sizes: tuple[int, ...] = ()  # the method's own finetuning sizes; empty: the spec's

    def module(self, backbone: str, pet_size: int | None) -> "FinetuneModule":
        """The method as a point builds it (config, `model.*` overrides, the PET size), its model not loaded: what
        it declares about that point."""
        args = dict(self.config_args)
        for key, value in self.overrides.items():
            group, _, arg = key.partition(".")
            if group == "model":
                args[arg.removeprefix("init_args.")] = value
        size_argument = self.method_class.pet_size_argument
        if size_argument is not None and pet_size is not None:
            args[size_argument] = pet_size
        return self.method_class(**(args | {"backbone": backbone}))


@dataclass(frozen=True)
class Backbone:
    """What a point finetunes: a ladder checkpoint, a hub model at a revision, or a local model directory."""

    model: str  # ladder size, hub id or local directory
    model_size: str  # the model-family member it is: `model`, or the default model for one of its checkpoint dirs
    revision: str | None = None
    pretrain_tokens: int | None = None
    counts: ParameterCounts | None = None  # None when the spec was loaded without resolving hub models
    ladder: bool = False

    @property
    def flags(self) -> list[str]:
        """`--model.backbone` (and `--model.revision`) of this backbone."""
        if self.ladder:
            return ["--model.backbone", f"ladder:{self.model}@{self.pretrain_tokens}"]
        return ["--model.backbone", self.model, *(["--model.revision", self.revision] if self.revision else [])]


@dataclass(frozen=True)
class Recipe:
    """How long each point trains, how often it validates and when it stops (a spec's `recipe`)."""

    epochs: float | None = None
    min_steps: int = 1
    max_steps: int | None = None
    val_check_interval: int | None = None
    patience: int | None = None  # early stopping on val/loss when set
    min_delta: float = 0.0

    def steps(self, train_size: int, batch_size: int) -> int | None:
        """clamp(ceil(epochs x train_size / batch_size), min_steps, max_steps); max_steps alone without epochs."""
        if self.epochs is None:
            return self.max_steps
        steps = max(math.ceil(self.epochs * train_size / batch_size), self.min_steps)
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def flags(self, train_size: int, batch_size: int) -> list[str]:
        steps = self.steps(train_size, batch_size)
        flags = [] if steps is None else ["--trainer.max_steps", str(steps)]
        if self.val_check_interval is not None:
            # Without an epoch interval of null, Lightning refuses a step interval longer than one epoch.
            flags += ["--trainer.val_check_interval", str(self.val_check_interval)]
            flags += ["--trainer.check_val_every_n_epoch", "null"]
        if self.patience is not None:
            init = {"monitor": "val/loss", "patience": self.patience, "min_delta": self.min_delta, "mode": "min"}
            flags += ["--trainer.callbacks+", json.dumps({"class_path": EARLY_STOPPING, "init_args": init})]
        return flags


@dataclass(frozen=True)
class Transfer:
    """Zero- and few-shot evaluation on a task the points do not finetune on (a spec's `transfer` or `retention`),
    logged as `<prefix>/k<shots>/*`."""

    data: str  # a datamodule config file
    shots: tuple[int, ...]
    prefix: str = "transfer"  # the spec field, the `ftscale fit` option group and the metrics' prefix

    @property
    def flags(self) -> list[str]:
        return [f"--{self.prefix}.data", self.data, f"--{self.prefix}.shots", json.dumps(list(self.shots))]


def expand(spec: "SweepSpec") -> list[Point]:
    """Expand one factor at a time (the others at their defaults), crossed with train sizes, seeds and methods.

    A point reached from several axes (the default point) is kept once and remembers each axis. With `transfer`
    or `retention`, one `base` point per backbone the others finetune scores it untrained.
    """
    points: dict[str, Point] = {}
    for method in spec.methods:
        pet = method.pet_default
        settings = [("model_size", backbone, pet) for backbone in spec.size_axis]
        settings += [("pretrain_tokens", backbone, pet) for backbone in spec.tokens_axis]
        settings += [("pet_size", spec.default, size) for size in method.pet_sizes]
        for axis, backbone, pet_size in settings:
            for train_size in method.train_sizes or spec.train_sizes:
                for seed in spec.seeds:
                    point = _point(spec, method, axis, backbone, pet_size, train_size, seed)
                    known = points.get(point.id)
                    if known is None:
                        points[point.id] = point
                    elif axis not in known.axes:
                        points[point.id] = replace(known, axes=(*known.axes, axis))
    finetuned = list(points.values())
    if not spec.evaluations:
        return finetuned
    backbones = {tuple(b.flags): b for b in _backbones(spec)}
    return finetuned + [_base_point(spec, backbone) for backbone in backbones.values()]


def _point(
    spec: "SweepSpec",
    method: Method,
    axis: str,
    backbone: Backbone,
    pet_size: int | None,
    train_size: int,
    seed: int,
) -> Point:
    args = _head(spec, "fit", method, backbone) + _flags("", method.overrides)
    if method.pet_key is not None:
        args += _flags("", {method.pet_key: pet_size})
    args += ["--data.train_size", str(train_size), "--data.subset_seed", str(seed)]
    args += _flags("data.", spec.data) + _flags("trainer.", spec.trainer)
    if spec.recipe is not None:
        args += spec.recipe.flags(train_size, spec.batch_size_of(method))
    for evaluation in spec.evaluations:
        args += evaluation.flags
    factors = _backbone_factors(backbone) | {"pet_size": pet_size, "train_size": train_size, "seed": seed}
    factors["full_model_tuning"] = method.method_class.full_model_tuning
    return Point(_id(args), method.name, (axis,), factors, tuple(args))


def _base_point(spec: "SweepSpec", backbone: Backbone) -> Point:
    """`ftscale test` of an untrained backbone, with a method that leaves it unchanged where the spec has one."""
    method = next((m for m in spec.methods if m.method_class.preserves_backbone_untrained), spec.methods[0])
    args = _head(spec, "test", method, backbone) + _flags("data.", spec.data) + _flags("trainer.", spec.trainer)
    for evaluation in spec.evaluations:
        args += evaluation.flags
    factors = _backbone_factors(backbone) | {"pet_size": None, "train_size": None, "seed": None}
    return Point(_id(args), BASE_METHOD, (), factors, tuple(args))


def _backbones(spec: "SweepSpec") -> list[Backbone]:
    """The backbones the finetuning points use, in the order they first appear."""
    used = [*spec.size_axis, *spec.tokens_axis]
    return used + ([spec.default] if any(m.pet_sizes for m in spec.methods) else [])


def _head(spec: "SweepSpec", command: str, method: Method, backbone: Backbone) -> list[str]:
    ladder = ["--ladder", spec.ladder] if spec.ladder else []
    task = ["--data", spec.task] if spec.task else []  # before any data option: it replaces the data class
    return [command, "--config", spec.base_config, *ladder, "--model", method.config, *backbone.flags, *task]


def _backbone_factors(backbone: Backbone) -> dict[str, Any]:
    counts = backbone.counts
    return {
        "model_size": backbone.model_size,
        "non_embedding_params": counts.non_embedding if counts else None,
        "pretrain_tokens": backbone.pretrain_tokens,
        "model": backbone.model,
        "revision": backbone.revision,
        "total_params": counts.total if counts else None,
    }


def _id(args: list[str]) -> str:
    return hashlib.sha256(json.dumps(args).encode()).hexdigest()[:12]


def _flags(prefix: str, values: dict[str, Any]) -> list[str]:
    """`--<prefix><key> <value>` pairs in key order, so reordering a YAML mapping keeps the ids."""
    flags = []
    for key in sorted(values):
        value = values[key]
        flags += [f"--{prefix}{key}", value if isinstance(value, str) else json.dumps(value)]
    return flags
