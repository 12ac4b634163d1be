"""Training throughput of a run: Lightning's `ThroughputMonitor`, fed with ftscale's token counts and FLOPs."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ThroughputMonitor
from lightning.pytorch.callbacks.throughput_monitor import _plugin_to_compute_dtype
from lightning.pytorch.trainer.states import RunningStage
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
    trainable = sum(elements(p) for p in params if p.requires_grad)
    return trainable, sum(elements(p) for p in params) - trainable


def elements(parameter: torch.Tensor) -> int:
    """Weights a token multiplies through in `parameter`: bitsandbytes' 4-bit tensors pack two in a byte and keep the
    layer's shape in their quantisation state (QLoRA's frozen base would otherwise count half)."""
    quant_state = getattr(parameter, "quant_state", None)
    return math.prod(quant_state.shape) if quant_state is not None else parameter.numel()


def h200_peak_flops(device: torch.device, dtype: torch.dtype) -> float | None:
    """The H200's dense peak FLOP/s for `dtype`; None on any other device."""
    if device.type != "cuda" or "h200" not in (name := torch.cuda.get_device_name(device).lower()):
        return None
    if dtype is torch.float32 and torch.get_float32_matmul_precision() != "highest":
        dtype = "tfloat32"
    return H200_PEAK_FLOPS["nvl" if "nvl" in name else "sxm"].get(dtype)


class TrainingThroughput(ThroughputMonitor):
    """Lightning's `ThroughputMonitor` over real (non-padding) tokens, with MFU from `flops_per_token`.

    Logs `train/device/items_per_sec` (tokens), `samples_per_sec`, `mfu` (None where the device's peak is
    unknown, e.g. CPUs) and the same summed over devices, plus `train/padding_fraction`; `summary()` holds the
    whole run's rates for the results store.

    Args:
        peak_flops: Peak FLOP/s of one device, for devices Lightning's table does not know.
        window_size: Batches in the rolling average of the logged rates.
    """

    def __init__(self, peak_flops: float | None = None, window_size: int = 20) -> None:
        super().__init__(
            batch_size_fn=lambda batch: len(example_lengths(batch)),
            length_fn=lambda batch: int(example_lengths(batch).sum()),
            window_size=window_size,
        )
        self.peak_flops = peak_flops
        self._shape: tuple[int, int, int, int] | None = None  # trainable, frozen, layers, attention width
        self._world_size = 1
        self.real_tokens = self.positions = 0  # over every training batch, for the padding fraction
        self.flops = 0  # of every training batch on this device

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._world_size = trainer.world_size
        peak = self.peak_flops or h200_peak_flops(
            trainer.strategy.root_device, _plugin_to_compute_dtype(trainer.precision_plugin)
        )
        if peak:
            self.available_flops = peak
            for throughput in self._throughputs.values():
                throughput.available_flops = peak

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        pl_module.flops_per_batch = 0  # only training's FLOPs are counted towards MFU

    def on_test_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        pl_module.flops_per_batch = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = getattr(pl_module, "model", None)
        config = getattr(model, "config", None)
        if config is not None:
            heads = config.num_attention_heads
            width = heads * (getattr(config, "head_dim", None) or config.hidden_size // heads)
            self._shape = (*matmul_parameters(model), config.num_hidden_layers, width)
        super().on_train_start(trainer)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # ThroughputMonitor reads the module's `flops_per_batch` when the batch ends.
        lengths = example_lengths(batch).tolist()
        flops = sum(n * flops_per_token(*self._shape, context=n) for n in lengths) if self._shape else 0
        pl_module.flops_per_batch = flops
        self.flops += flops
        self.real_tokens += sum(lengths)
        self.positions += batch["input_ids"].numel()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch)
        if trainer._logger_connector.should_update_logs and self.positions:
            pl_module.log("train/padding_fraction", 1 - self.real_tokens / self.positions, on_step=True)

    def summary(self) -> dict[str, float | None]:
        """The run's tokens_per_s, samples_per_s and mfu (summed over devices) and padding_fraction; None before."""
        throughput = self._throughputs.get(RunningStage.TRAINING)
        elapsed = throughput._time[-1] if throughput is not None and throughput._time else 0.0
        tokens, samples = self._lengths.get(RunningStage.TRAINING, 0), self._samples.get(RunningStage.TRAINING, 0)
        return {
            "tokens_per_s": tokens * self._world_size / elapsed if elapsed else None,
            "samples_per_s": samples * self._world_size / elapsed if elapsed else None,
            "mfu": self.flops / elapsed / self.available_flops
            if elapsed and self.flops and self.available_flops
            else None,
            "padding_fraction": 1 - self.real_tokens / self.positions if self.positions else None,
        }
