"""What a sweep costs to train: FLOPs and GPU-hours per point, and their sums.

FLOPs per token, with N the parameters a token multiplies through (`ParameterCounts.per_token`, the embedding
lookups left out): full-model tuning 6N (forward 2N, backward 4N); PET 4N through the frozen model (forward, and
the backward that reaches the adapter) plus 6 x the trainable parameters. Tokens are steps x batch x sequence
length, the sequence being the task's max source + target tokens (an upper bound) unless a mean length is given,
plus the soft prompt for prompt tuning. Steps are each point's step cap: early stopping can only end a run sooner,
so the estimate is an upper bound. `base` points only evaluate and cost no training.
"""

from dataclasses import dataclass

from ftscale.backbones.params import ParameterCounts
from ftscale.sweeps.points import BASE_METHOD, Method, Point
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
    rows = tuple(
        _row(spec, point, methods.get(point.method), mfu * peak_flops, mean_sequence_tokens) for point in spec.points()
    )
    known = [r for r in rows if r.flops is not None]
    return SweepCost(
        rows=rows,
        flops=sum(r.flops for r in known),
        gpu_hours=sum(r.gpu_hours for r in known),
        unknown=len(rows) - len(known),
    )


def _row(spec: SweepSpec, point: Point, method: Method | None, flop_rate: float, mean_tokens: int | None) -> PointCost:
    if point.method == BASE_METHOD:
        return PointCost(point.id, point.method, 0, 0, 0, 0.0, 0.0)
    steps = _int_arg(point, "trainer.max_steps", spec.max_steps)
    batch = _int_arg(point, "data.batch_size", spec.batch_size)
    length = mean_tokens or spec.sequence_tokens
    counts = _counts(spec, point)
    if None in (steps, batch, length, counts):
        return PointCost(point.id, point.method, steps, None, None, None, None)
    pet_size = point.factors["pet_size"]
    if method.kind == "prompt":
        length += pet_size  # the soft prompt runs through the whole model with every example
    tokens = steps * batch * length
    trainable = {
        "fmt": counts.total,
        "lora": (pet_size or 0) * counts.lora_width,
        "prompt": (pet_size or 0) * counts.hidden_size,
    }.get(method.kind, 0)  # another PET method: its adapter's own FLOPs are left out
    per_token = 6 * counts.per_token if method.kind == "fmt" else 4 * counts.per_token + 6 * trainable
    flops = float(per_token) * tokens
    return PointCost(point.id, point.method, steps, tokens, trainable, flops, flops / flop_rate / 3600)


def _counts(spec: SweepSpec, point: Point) -> ParameterCounts | None:
    used = [*spec.size_axis, *spec.tokens_axis, *([spec.default] if spec.default else [])]
    return next(
        (b.counts for b in used if (b.model, b.revision) == (point.factors["model"], point.factors["revision"])), None
    )


def _int_arg(point: Point, option: str, default: int | None) -> int | None:
    """The point's last `--<option>` (or `--<group>.init_args.<arg>`), else `default`."""
    group, _, arg = option.partition(".")
    flags = {f"--{option}", f"--{group}.init_args.{arg}"}
    values = [value for flag, value in zip(point.args, point.args[1:], strict=False) if flag in flags]
    return int(values[-1]) if values else default
