"""Optional learned metrics (BLEURT, COMET): run when their package is installed and a local checkpoint is given.

Neither package is an ftscale dependency and nothing is downloaded: a metric runs only with a checkpoint
directory the user configured (`generation.learned_metrics: {bleurt: DIR, comet: DIR}`).
"""

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ftscale.errors import InputError, MissingFileError


@dataclass(frozen=True)
class LearnedMetric:
    """A learned metric: `score(checkpoint, hypotheses, references, sources)` is its corpus-level value."""

    module: str  # the import that must succeed
    install: str  # how to get the package
    checkpoint_hint: str  # which checkpoint directory to give
    score: Callable[[str, list[str], list[str], list[str]], float]


def _bleurt(checkpoint: str, hypotheses: list[str], references: list[str], sources: list[str]) -> float:
    from bleurt import score

    scores = score.BleurtScorer(checkpoint).score(references=references, candidates=hypotheses)
    return sum(scores) / len(scores)


def _comet(checkpoint: str, hypotheses: list[str], references: list[str], sources: list[str]) -> float:
    from comet import load_from_checkpoint

    model = load_from_checkpoint(checkpoint)
    data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(sources, hypotheses, references, strict=True)]
    gpus = 1 if torch.cuda.is_available() else 0
    return float(model.predict(data, batch_size=16, gpus=gpus, progress_bar=False).system_score)


LEARNED_METRICS: dict[str, LearnedMetric] = {
    "bleurt": LearnedMetric(
        module="bleurt",
        install="pip install git+https://github.com/google-research/bleurt.git",
        checkpoint_hint="an unzipped BLEURT checkpoint such as BLEURT-20",
        score=_bleurt,
    ),
    "comet": LearnedMetric(
        module="comet",
        install="pip install unbabel-comet",
        checkpoint_hint="a COMET model's checkpoints/model.ckpt, such as wmt22-comet-da's",
        score=_comet,
    ),
}


def check_learned_metrics(checkpoints: dict[str, str]) -> None:
    """Refuse unknown metric names and checkpoint paths that do not exist (`generation.learned_metrics`)."""
    for name, path in checkpoints.items():
        if name not in LEARNED_METRICS:
            raise InputError(
                f"generation.learned_metrics: unknown metric {name!r}; valid: {', '.join(LEARNED_METRICS)}"
            )
        if not Path(path).exists():
            raise MissingFileError(
                f"generation.learned_metrics.{name}={path!r} does not exist; give "
                f"{LEARNED_METRICS[name].checkpoint_hint}"
            )


def learned_metrics_to_run(checkpoints: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The configured metrics whose package is installed (name -> checkpoint), and one message naming every
    other learned metric with what to install or configure for it (None when all run)."""
    runnable, skipped = {}, []
    for name, metric in LEARNED_METRICS.items():
        if name not in checkpoints:
            skipped.append(f"{name} (set generation.learned_metrics.{name} to {metric.checkpoint_hint})")
        elif importlib.util.find_spec(metric.module) is None:
            skipped.append(f"{name} (package {metric.module!r} is not installed: {metric.install})")
        else:
            runnable[name] = checkpoints[name]
    message = f"learned metrics skipped: {'; '.join(skipped)}" if skipped else None
    return runnable, message


def score_learned(
    checkpoints: dict[str, str], hypotheses: list[str], references: list[str], sources: list[str]
) -> dict[str, float]:
    """The value of each metric in `checkpoints` (name -> checkpoint directory); all must be runnable."""
    return {
        name: LEARNED_METRICS[name].score(path, hypotheses, references, sources) for name, path in checkpoints.items()
    }
