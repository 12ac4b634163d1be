"""Intermediate pretraining checkpoints of one model, each with the number of tokens it was trained on."""

from typing import Any

from ftscale.errors import InputError

PYTHIA_STEPS = "pythia_steps"
PYTHIA_TOKENS_PER_STEP = 2_097_152  # Pythia's batch: 1024 sequences x 2048 tokens, the same for every size


def pythia_checkpoints(steps: list[int]) -> dict[str, int]:
    """Pythia's hub revisions `step<N>` and the tokens each was trained on, N x 2,097,152."""
    return {f"step{step}": step * PYTHIA_TOKENS_PER_STEP for step in steps}


def checkpoint_tokens(raw: Any, field: str) -> dict[str, int]:
    """Read `{revision or directory: tokens}` or `{pythia_steps: [N, ...]}`; errors name `field` and the value."""
    if isinstance(raw, dict) and PYTHIA_STEPS in raw:
        steps = raw[PYTHIA_STEPS]
        ok = len(raw) == 1 and isinstance(steps, list) and steps and all(_is_int(s) and s > 0 for s in steps)
        if not ok or len(set(steps)) != len(steps):
            raise InputError(f"{field}: expected {{{PYTHIA_STEPS}: [distinct positive steps]}} alone, got {raw!r}")
        return pythia_checkpoints(steps)
    if not (isinstance(raw, dict) and raw and all(isinstance(k, str) and k for k in raw)):
        raise InputError(
            f"{field}: expected a mapping of hub revision or local checkpoint directory -> pretraining tokens, "
            f"or {{{PYTHIA_STEPS}: [steps]}}, got {raw!r}"
        )
    bad = {k: v for k, v in raw.items() if not (_is_int(v) and v > 0)}
    if bad:
        raise InputError(f"{field}: expected a positive integer number of tokens per checkpoint, got {bad}")
    repeated = sorted({v for v in raw.values() if list(raw.values()).count(v) > 1})
    if repeated:
        raise InputError(f"{field}: expected distinct token counts (each is one X), got {repeated} more than once")
    return dict(raw)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
