"""What a sweep costs to train: trainable parameters, FLOPs and GPU-hours per point, and their sums.

Each method declares its costs (`FinetuneModule.count_trainable_parameters`, `flops_per_token` and
`prepended_tokens`, whose docstrings state the FLOPs model: 6N for full-model tuning, 4N through the frozen model
plus 6 x the trainable parameters for an adapter, with N the parameters a token multiplies through). Tokens are
steps x batch x sequence length, the sequence being the task's max source + target tokens (an upper bound) unless
a mean length is given, plus the positions the method prepends (a soft prompt). Steps are each point's step cap:
early stopping can only end a run sooner, so the estimate is an upper bound. `base` points only evaluate and cost
no training.
"""

from dataclasses import dataclass

from ftscale.sweeps.points import BASE_METHOD, Backbone, Method, Point
from ftscale.sweeps.spec import SweepSpec

H100_BF16_DENSE = 989e12  # FLOP/s, NVIDIA H100 SXM bf16 without sparsity


@dataclass(frozen=True)
class PointCost:
    """One point's training cost; None where the spec does not tell (no step cap, or the hub was not resolved)."""

    point_id: str
    method: str
    steps: int | None
    tokens: int | None
    trainable_params: int | None
    flops: float | None
    gpu_hours: float | None


@dataclass(frozen=True)
class SweepCost:
    rows: tuple[PointCost, ...]
    flops: float  # over the points with an estimate
    gpu_hours: float
    unknown: int  # points without an estimate


def sweep_cost(
    spec: SweepSpec,
    mfu: float = 0.4,
    peak_flops: float = H100_BF16_DENSE,
    mean_sequence_tokens: int | None = None,
) -> SweepCost:
    """Per-point training FLOPs and GPU-hours at model FLOPs utilisation `mfu` of `peak_flops` per GPU, and totals."""
    if not 0 < mfu <= 1 or peak_flops <= 0:
        raise ValueError(f"mfu={mfu} must be in (0, 1] and peak_flops={peak_flops} positive")
    methods = {m.name: m for m in spec.methods}
    trainable: dict[tuple, int] = {}  # the points of one method, model and PET size train the same parameters
    rows = tuple(
        _row(spec, point, methods.get(point.method), mfu * peak_flops, mean_sequence_tokens, trainable)
        for point in spec.points()
    )
    known = [r for r in rows if r.flops is not None]
    return SweepCost(
        rows=rows,
        flops=sum(r.flops for r in known),
        gpu_hours=sum(r.gpu_hours for r in known),
        unknown=len(rows) - len(known),
    )


def _row(
    spec: SweepSpec,
    point: Point,
    method: Method | None,
    flop_rate: float,
    mean_tokens: int | None,
    trainable: dict[tuple, int],
) -> PointCost:
    if point.method == BASE_METHOD:
        return PointCost(point.id, point.method, 0, 0, 0, 0.0, 0.0)
    steps = _int_arg(point, "trainer.max_steps", spec.max_steps)
    batch = _int_arg(point, "data.batch_size", spec.batch_size)
    length = mean_tokens or spec.sequence_tokens
    backbone = _backbone(spec, point)
    if None in (steps, batch, length, backbone.counts):
        return PointCost(point.id, point.method, steps, None, None, None, None)
    module = method.module(backbone.flags[1], point.factors["pet_size"])
    key = (method.name, backbone.model, point.factors["pet_size"])  # a model's revisions share its shape
    if key not in trainable:
        trainable[key] = module.count_trainable_parameters(backbone.counts.config)
    tokens = steps * batch * (length + module.prepended_tokens)
    flops = float(module.flops_per_token(backbone.counts, trainable[key])) * tokens
    return PointCost(point.id, point.method, steps, tokens, trainable[key], flops, flops / flop_rate / 3600)


def _backbone(spec: SweepSpec, point: Point) -> Backbone:
    used = [*spec.size_axis, *spec.tokens_axis, *([spec.default] if spec.default else [])]
    return next(b for b in used if (b.model, b.revision) == (point.factors["model"], point.factors["revision"]))


def _int_arg(point: Point, option: str, default: int | None) -> int | None:
    """The point's last `--<option>` (or `--<group>.init_args.<arg>`), else `default`."""
    group, _, arg = option.partition(".")
    flags = {f"--{option}", f"--{group}.init_args.{arg}"}
    values = [value for flag, value in zip(point.args, point.args[1:], strict=False) if flag in flags]
    return int(values[-1]) if values else default
