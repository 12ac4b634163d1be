"""Points placed on GPUs: disjoint sets of K devices, one point's subprocess on each set at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ftscale.errors import InputError
from ftscale.sweeps.executors import Job, run_isolated

# A point on several GPUs trains with FSDP2, as configs/trainer/fsdp.yaml does for one run.
FSDP = "lightning.pytorch.strategies.ModelParallelStrategy"


def gpu_sets(gpus: Sequence[int], per_point: int, available: int) -> list[tuple[int, ...]]:
    """Split `gpus` into disjoint sets of `per_point` (a remainder stays idle); ValueError naming the bad value."""
    if not gpus:
        raise InputError("--gpus: expected a comma-separated list of GPU indices, e.g. 0,1,2,3")
    missing = [g for g in gpus if not 0 <= g < available]
    if missing:
        there = f"0..{available - 1}" if available else "none"
        raise InputError(f"--gpus names GPU {missing[0]}, which is not there (this machine's GPUs: {there})")
    if len(set(gpus)) != len(gpus):
        raise InputError(f"--gpus lists a GPU twice: {list(gpus)}")
    if not 1 <= per_point <= len(gpus):
        raise InputError(f"--gpus-per-point={per_point}: expected 1 to {len(gpus)} (the number of GPUs in --gpus)")
    return [tuple(gpus[i : i + per_point]) for i in range(0, len(gpus) - per_point + 1, per_point)]


def parse_gpus(text: str) -> list[int]:
    """`0,1,2,3` as a list of indices; ValueError naming the option otherwise."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--gpus={text!r}: expected a comma-separated list of GPU indices, e.g. 0,1,2,3") from None


@dataclass(frozen=True)
class OnGpus:
    """An executor that runs a point in a subprocess that sees only `devices` (CUDA_VISIBLE_DEVICES); on more than
    one it trains with FSDP across them."""

    devices: tuple[int, ...]
    launch: Callable[..., None] = field(default=run_isolated)  # a test can record the environment instead

    def __call__(self, job: Job) -> None:
        env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, self.devices))}
        extra = ["--trainer.accelerator", "gpu", "--trainer.devices", str(len(self.devices))]
        if len(self.devices) > 1:
            extra += ["--trainer.strategy", FSDP, "--trainer.strategy.data_parallel_size", str(len(self.devices))]
            extra += ["--trainer.strategy.save_distributed_checkpoint", "false", "--trainer.precision", "bf16-mixed"]
        self.launch(job, env=env, extra=tuple(extra))


def visible_gpus() -> int:
    """How many CUDA devices this machine has (0 without CUDA)."""
    import torch

    return torch.cuda.device_count()
