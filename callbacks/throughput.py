"""Training throughput of a run: tokens/s, samples/s, model FLOPs utilisation (MFU) and padding."""

import time
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.throughput import get_available_flops
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks.throughput_monitor import _plugin_to_compute_dtype
from torch import nn

from ftscale.datamodules.batching import example_lengths

# Dense peaks of the H200, in FLOP/s (NVIDIA H200 datasheet, https://www.nvidia.com/en-us/data-center/h200/:
# the tensor-core figures there are "with sparsity", halved here). Lightning's table lists the H200 only under
# names no device reports ("H200 SXM1") and with the sparse figures, so it reports no peak for an H200.
H200_PEAK_FLOPS: dict[str, dict[torch.dtype | str, float]] = {
    "sxm": {torch.float32: 67e12, "tfloat32": 494.5e12, torch.bfloat16: 989.5e12, torch.float16: 989.5e12},
    "nvl": {torch.float32: 60e12, "tfloat32": 417.5e12, torch.bfloat16: 835.5e12, torch.float16: 835.5e12},
}


def flops_per_token(trainable: int, frozen: int, layers: int, attention_width: int, context: int) -> int:
    """Training FLOPs of one token attending over `context` tokens.

    A parameter costs 2 FLOPs forward, and backward 4 if trained (input and weight gradients) or 2 if frozen
    but passed by the gradient (input gradient only): 6 x trainable + 4 x frozen. Attention scores and their
    weighted sum cost 4 x width x context per layer forward and twice that backward (PaLM's 12 L H Q T).
    """
    return 6 * trainable + 4 * frozen + 12 * layers * attention_width * context


def matmul_parameters(model: nn.Module) -> tuple[int, int]:
    """Trainable and frozen parameters that multiply every token: all but embedding lookups (a tied head counts)."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = getattr(output, "weight", None)
    lookups = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding) and m.weight is not head}
    params = [p for p in model.parameters() if id(p) not in lookups]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return trainable, sum(p.numel() for p in params) - trainable


def peak_flops(device: torch.device, dtype: torch.dtype) -> float | None:
    """The device's peak FLOP/s for `dtype` (Lightning's table, plus the H200); None where unknown (CPUs)."""
    if device.type == "cuda" and "h200" in (name := torch.cuda.get_device_name(device).lower()):
        if dtype is torch.float32 and torch.get_float32_matmul_precision() != "highest":
            dtype = "tfloat32"
        return H200_PEAK_FLOPS["nvl" if "nvl" in name else "sxm"].get(dtype)
    return get_available_flops(device, dtype)


class TrainingThroughput(Callback):
    """Logs `train/tokens_per_s`, `train/samples_per_s`, `train/mfu` and `train/padding_fraction`.

    Tokens are real (non-padding) tokens. A step's time runs from the end of the previous training batch to
    the end of this one, so data loading, collation and the optimizer count; the first step of a run and the
    first after each validation are left out (warm-up, and the validation's own time). Rates are summed over
    ranks. MFU is the FLOPs of `flops_per_token` over the device's peak, None where the peak is unknown or the
    module has no Hugging Face `model` with a config. `summary()` holds the run's values for the results store.

    Args:
        peak_flops: Peak FLOP/s of one device, for devices the built-in tables do not know.
    """

    def __init__(self, peak_flops: float | None = None) -> None:
        self.peak_flops = peak_flops
        self.time = 0.0
        self.tokens = self.samples = self.flops = 0
        self.real_tokens = self.positions = 0  # over every training batch, for the padding fraction
        self._last_end: float | None = None
        self._shape: tuple[int, int, int, int] | None = None  # trainable, frozen, layers, attention width
        self._world_size = 1

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._world_size = trainer.world_size
        if self.peak_flops is None:
            self.peak_flops = peak_flops(
                trainer.strategy.root_device, _plugin_to_compute_dtype(trainer.precision_plugin)
            )
        model = getattr(pl_module, "model", None)
        config = getattr(model, "config", None)
        if config is not None:
            heads = config.num_attention_heads
            width = heads * (getattr(config, "head_dim", None) or config.hidden_size // heads)
            self._shape = (*matmul_parameters(model), config.num_hidden_layers, width)
        self._last_end = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_end = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        lengths = example_lengths(batch)
        self.real_tokens += int(lengths.sum())
        self.positions += batch["input_ids"].numel()
        if self._last_end is not None:
            self.time += now - self._last_end
            self.tokens += int(lengths.sum())
            self.samples += len(lengths)
            if self._shape is not None:
                self.flops += sum(n * flops_per_token(*self._shape, context=n) for n in lengths.tolist())
        self._last_end = now
        # Only on logging steps: a `log` call per step costs more than a tiny CPU model's step is worth measuring.
        if trainer.global_step % trainer.log_every_n_steps == 0:
            pl_module.log_dict({f"train/{k}": v for k, v in self.summary().items() if v is not None}, on_step=True)

    def summary(self) -> dict[str, float | None]:
        """tokens_per_s, samples_per_s and mfu (summed over ranks) and padding_fraction; None before they exist."""
        timed = self.time > 0
        mfu = self.flops / self.time / self.peak_flops if timed and self.peak_flops and self._shape else None
        return {
            "tokens_per_s": self.tokens * self._world_size / self.time if timed else None,
            "samples_per_s": self.samples * self._world_size / self.time if timed else None,
            "mfu": mfu,
            "padding_fraction": 1 - self.real_tokens / self.positions if self.positions else None,
        }
