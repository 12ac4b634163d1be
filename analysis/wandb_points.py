"""A sweep's finished points read back from W&B: the `finetune` runs its points logged, through the public API."""

from __future__ import annotations

import logging
import math
from typing import Any

from ftscale.analysis.results import PointResult
from ftscale.errors import InputError

log = logging.getLogger(__name__)

# What a point's WandbLogger run carries in its config (see `ScalingLawCallback.wandb_init`).
POINT_KEYS = ("point_id", "method", "axes", "factors")


def parse_path(path: str) -> tuple[str, str]:
    """`ENTITY/PROJECT` split in two; ValueError naming the option otherwise."""
    entity, sep, project = path.partition("/")
    if not (sep and entity and project) or "/" in project:
        raise InputError(f"--from-wandb: expected ENTITY/PROJECT (e.g. my-team/ftscale), got {path!r}")
    return entity, project


def points_from_wandb(path: str, sweep: str) -> list[PointResult]:
    """The finished `finetune` runs of `sweep` (their group) in W&B project `path`."""
    import wandb

    parse_path(path)
    filters = {"group": sweep, "jobType": "finetune", "state": "finished"}
    points = []
    for run in wandb.Api().runs(path, filters=filters):
        point = point_from_run(run)
        if point is None:
            log.warning(
                "W&B run %s of group %s is no ftscale point (no %s in its config); left out",
                run.id,
                sweep,
                "/".join(POINT_KEYS),
            )
        else:
            points.append(point)
    return points


def point_from_run(run: Any) -> PointResult | None:
    """A point from a `wandb.apis.public.Run` (config: the point; summary: its metrics, W&B's `_` keys and
    non-finite values left out); None if the run is not a point's."""
    config = dict(run.config)
    if not all(key in config for key in POINT_KEYS):
        return None
    metrics = {k: v for k, v in dict(run.summary_metrics).items() if not k.startswith("_") and not _non_finite(v)}
    return PointResult(config["point_id"], config["method"], tuple(config["axes"]), dict(config["factors"]), metrics)


def merge_points(stored: list[PointResult], from_wandb: list[PointResult]) -> list[PointResult]:
    """The store's points, then the W&B points the store has not finished (other machines'), each once."""
    known = {point.id for point in stored}
    extra: dict[str, PointResult] = {}
    for point in from_wandb:
        if point.id not in known:
            extra.setdefault(point.id, point)  # a point logged twice (resynced) counts once
    return [*stored, *extra.values()]


def _non_finite(value: Any) -> bool:
    if isinstance(value, str):  # W&B keeps non-finite numbers as strings
        return value in ("NaN", "Infinity", "-Infinity")
    return isinstance(value, float) and not math.isfinite(value)
