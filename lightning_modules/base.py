"""The LightningModule every finetuning method shares; a method only decides what of the backbone trains."""

import functools
import importlib
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torch.distributed.tensor import DTensor
from torchmetrics import MeanMetric
from transformers import (
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
)

from ftscale.backbones.attention import FLASH, choose_attn_implementation, describe_attention
from ftscale.backbones.loading import load_backbone
from ftscale.backbones.params import ParameterCounts, meta_backbone
from ftscale.datamodules.batching import IGNORE_INDEX
from ftscale.errors import InputError, MissingFileError
from ftscale.lightning_modules.sharding import data_parallel_mesh, shard_model


class FinetuneModule(L.LightningModule):
    """Conditional-LM finetuning of a causal LM; subclasses override `adapt` to choose what trains.

    A method also declares what it is, for the sweep's PET-size axis, its cost and its `base` points and for
    generation; the defaults fit a PET method whose trained tensors sit in every token's path (LoRA-like), and a
    method overrides the declarations that differ: `pet_size_argument`, `preserves_backbone_untrained`,
    `full_model_tuning`, `prepended_tokens`, `count_trainable_parameters`, `flops_per_token`, `generation_model`.

    Args:
        backbone: Hugging Face hub id or local directory of a causal LM (a `ladder:<size>[@<tokens>]`
            spec is resolved to a directory by the `ftscale` CLI before the module is built).
        revision: Hub revision of `backbone` (a branch, tag or commit, e.g. Pythia's `step36000`); None is the
            hub's main.
        optimizer: `adamw`, `adafactor` as in the paper, or `adamw8bit` (bitsandbytes' AdamW with 8-bit states,
            a quarter of AdamW's optimizer memory; not under FSDP).
        learning_rate: Peak learning rate (paper: 1e-3 FMT, 3e-1 prompt tuning, 1e-2 LoRA).
        weight_decay: Decoupled weight decay.
        warmup_ratio: Fraction of the training steps spent in linear warmup.
        lr_schedule: After warmup, `cosine` decay to 0 or a `constant` rate (pretraining uses constant, so
            its intermediate checkpoints are comparable, as with Pythia's).
        attn_implementation: `flash_attention_2`, `sdpa` or `eager`; unset picks flash-attn on CUDA when
            installed, else sdpa.
        activation_checkpointing: Recompute each decoder layer's activations in the backward pass instead of
            storing them (less memory, about a third more compute).
    """

    def __init__(
        self,
        backbone: str,
        revision: str | None = None,
        optimizer: Literal["adamw", "adafactor", "adamw8bit"] = "adamw",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.05,
        lr_schedule: Literal["cosine", "constant"] = "cosine",
        attn_implementation: str | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model: nn.Module | None = None
        # PET checkpoints hold only the trained tensors, so the frozen rest is absent on load.
        self.strict_loading = False
        self.val_nll = MeanMetric()
        self.test_nll = MeanMetric()
        # Where test metrics are logged: `test`, or e.g. `transfer/k0` while scoring a related task (ftscale fit
        # --transfer.data), so the task's own test metrics are never overwritten.
        self.test_prefix = "test"

    pet_size_argument: ClassVar[str | None] = None
    """The `__init__` argument that is the method's PET size (LoRA's `rank`, prompt tuning's `num_virtual_tokens`),
    the value of a sweep's pet_size axis; None: the method has no size (FMT, IA3)."""
    preserves_backbone_untrained: ClassVar[bool] = False
    """Whether an untrained instance computes the backbone's own outputs (a LoRA update starts at zero), so that a
    sweep's `base` points, which score untrained backbones, can run with it."""
    full_model_tuning: ClassVar[bool] = False
    """Whether the method trains every backbone parameter (FMT): the paper's claims compare it with the PET methods,
    so a sweep's analysis finds it by this, not by its name."""

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        """Turn the loaded backbone into the model to train; only its `requires_grad` tensors are trained."""
        raise NotImplementedError

    @property
    def prepended_tokens(self) -> int:
        """Positions put before every example's tokens that run through the whole model (a soft prompt's);
        they add to the tokens a step trains on. Key/value prefixes are not tokens: their cost is the trainable
        parameters'."""
        return 0

    def count_trainable_parameters(self, config: PretrainedConfig) -> int:
        """Parameters this method (with its arguments) trains on a backbone of `config`, tied ones once.

        The backbone is built on the meta device (shapes only: no weights, no memory), `adapt`ed as in training,
        and its `requires_grad` parameters counted; a method whose `adapt` needs real weights overrides this.
        """
        with torch.device("meta"):  # the adapter's own tensors too
            model = self.adapt(meta_backbone(config))
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def flops_per_token(self, counts: ParameterCounts, trainable: int) -> int:
        """Training FLOPs per token on a backbone of `counts` with `trainable` parameters of this method.

        A multiply-add with a parameter costs 2 FLOPs forward; backward, a trained parameter costs 4 (the input's
        and its own gradient) and a frozen one 2 (only the input's gradient, which must reach the adapter). So
        4 x `counts.per_token` for the frozen model plus 6 x `trainable`, which assumes each trainable parameter
        multiplies every token once (LoRA's A and B, a prefix's keys and values); an elementwise scale (IA3)
        costs less, a small overcount. Attention over the context and per-step work (optimizer, DoRA's weight
        norm) are left out, as in 6N.
        """
        return 4 * counts.per_token + 6 * trainable

    def generation_model(self) -> tuple[nn.Module, torch.Tensor | None]:
        """The model that generates continuations of prompts, and the embeddings [positions, hidden] it must read
        before every prompt's (a soft prompt), or None when it generates from the prompt's token ids as they are."""
        return self.model, None

    def load(self, attn_implementation: str) -> PreTrainedModel:
        """Load the backbone to adapt, in float32; QLoRA overrides this to load it quantised."""
        # transformers 5 loads a checkpoint in its own dtype by default: a Pythia (fp16) or Llama (bf16) checkpoint
        # would then train with half-precision master weights. Float32 weights are what `bf16-mixed` autocasts from.
        return load_backbone(
            self.hparams.backbone, attn_implementation, dtype=torch.float32, revision=self.hparams.revision
        )

    def configure_model(self) -> None:
        # Built here, not in __init__, so a sharding strategy can wrap the model as it is created.
        if self.model is not None:
            return
        attn_implementation = choose_attn_implementation(self.hparams.attn_implementation)
        _info_once(describe_attention(attn_implementation, self.hparams.attn_implementation))
        backbone = self.load(attn_implementation)
        if self.hparams.activation_checkpointing:
            # Hugging Face's own checkpointing keeps parameter names (torch's checkpoint_wrapper would not), so
            # checkpoints, peft's adapter files and FSDP2's per-layer hooks are unchanged.
            backbone.activation_checkpointing_enable()
        # from_pretrained returns eval mode and Lightning keeps module modes: train mode enables dropout.
        self.model = self.adapt(backbone).train()
        if self.device_mesh is not None:  # set by ModelParallelStrategy
            shard_model(self.model, data_parallel_mesh(self.device_mesh), self.trainer.precision)

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def total_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def on_fit_start(self) -> None:
        counts = {"trainable_params": self.trainable_parameters, "total_params": self.total_parameters}
        for logger in self.loggers:
            logger.log_hyperparams(counts)

    def token_nll(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed next-token NLL over labelled tokens, and how many tokens that is."""
        labels = batch["labels"]
        # Packed batches carry position_ids (restarting per example) instead of an attention mask.
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
        if "position_ids" in inputs and self.model.config._attn_implementation == FLASH:
            inputs = flatten_packed_rows(inputs)
        # No KV cache: with one, transformers ignores packed position_ids when it builds the attention mask.
        logits = self.model(**inputs, use_cache=False).logits
        logits = logits.view(*labels.shape[:1], -1, logits.size(-1))  # back to rows after flattening
        # Prompt tuning prepends virtual tokens: keep only the positions of the real input. Only then: the backward
        # of a slice writes the gradient into a zeroed copy of the whole [B, T, vocab] logits.
        if logits.size(1) != labels.size(1):
            logits = logits[:, -labels.size(1) :]
        # Shift the labels left rather than the logits right: [B, T, vocab] logits then need no copy.
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
        nll = F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        return nll, (targets != IGNORE_INDEX).sum()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        nll, count = self.token_nll(batch)
        # Data parallelism (DDP, FSDP) averages gradients over the processes: dividing by the mean token count
        # per process makes the step the token-level mean over the global batch, as on one device.
        loss = nll / (self.all_gather(count).float().mean()).clamp(min=1)
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._update(self.val_nll, batch)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._update(self.test_nll, batch)

    def _update(self, metric: MeanMetric, batch: dict[str, torch.Tensor]) -> None:
        nll, count = self.token_nll(batch)
        # Weighting by token count makes the epoch value the token-level mean NLL over the whole split.
        metric.update(nll / count.clamp(min=1), weight=count)

    def on_validation_epoch_end(self) -> None:
        self._log_split("val", self.val_nll)

    def on_test_epoch_end(self) -> None:
        self._log_split(self.test_prefix, self.test_nll)

    def _log_split(self, split: str, metric: MeanMetric) -> None:
        loss = metric.compute()
        metric.reset()
        self.log(f"{split}/loss", loss, prog_bar=True)
        self.log(f"{split}/ppl", loss.exp())

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        hp = self.hparams
        if hp.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw8bit":
            optimizer = adamw_8bit(params, hp.learning_rate, hp.weight_decay, sharded=self.device_mesh is not None)
        else:
            optimizer = torch.optim.Adafactor(params, lr=hp.learning_rate, weight_decay=hp.weight_decay)
        total = self.trainer.estimated_stepping_batches
        warmup = int(hp.warmup_ratio * total)
        if hp.lr_schedule == "cosine":
            scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total)
        else:
            scheduler = get_constant_schedule_with_warmup(optimizer, warmup)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def trained_tensor_names(self) -> set[str]:
        """State-dict names of the trained tensors, tied ones under each name (a sharded load asks for each)."""
        return {name for name, p in self.named_parameters(remove_duplicate=False) if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if any(isinstance(t, DTensor) for t in checkpoint["state_dict"].values()):
            # A sharded folder (save_distributed_checkpoint=True) is loaded tensor by tensor and must hold all.
            return
        # Save only what was trained: the whole model for FMT, the adapter or soft prompt for PET.
        trained = self.trained_tensor_names()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trained}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "state_dict" not in checkpoint:  # ModelParallelStrategy has loaded the weights into the shards already
            return
        # One name of each tied pair suffices (checkpoints before tied names were saved have only the first).
        trained = {name for name, p in self.named_parameters() if p.requires_grad}
        missing = sorted(trained - checkpoint["state_dict"].keys())
        if missing:
            raise InputError(f"checkpoint lacks {len(missing)} trained tensors of this method, e.g. {missing[0]}")

    def export(self, out_dir: str | Path) -> Path:
        """Write a directory that `from_pretrained` loads: the full model (FMT) or the peft adapter (PET)."""
        out = Path(out_dir)
        self.model.save_pretrained(out)
        AutoTokenizer.from_pretrained(self.hparams.backbone).save_pretrained(out)
        return out


def flatten_packed_rows(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Packed rows [R, T] as one row [1, R * T]: flash-attn reads packed position ids from a single row only."""
    return {k: v.reshape(1, -1) for k, v in inputs.items()}


def adamw_8bit(params: list[nn.Parameter], lr: float, weight_decay: float, sharded: bool) -> torch.optim.Optimizer:
    """bitsandbytes' AdamW8bit (CUDA, and CPU since bitsandbytes 0.46); FSDP's sharded DTensors it cannot step."""
    if sharded:
        raise InputError("model.optimizer='adamw8bit' does not run under FSDP (ModelParallelStrategy); use 'adamw'")
    try:
        from bitsandbytes.optim import AdamW8bit
    except ImportError as err:
        raise InputError(f"model.optimizer='adamw8bit' needs bitsandbytes: pip install bitsandbytes ({err})") from err
    return AdamW8bit(params, lr=lr, weight_decay=weight_decay)


# Top-level packages of ftscale before everything moved under the `ftscale.` namespace.
PRE_NAMESPACE_ROOMS = {"lightning_modules", "datamodules", "backbones", "callbacks", "evaluation", "sweeps"}


def load_method(checkpoint: str | Path, **kwargs) -> FinetuneModule:
    """Rebuild the method a `ftscale fit` checkpoint was trained with, its trained weights loaded.

    The class is the one LightningCLI recorded as `_class_path` (Lightning's own `load_from_checkpoint` on the
    base class would drop it: it keeps only arguments of the base's `__init__`); a checkpoint from before the
    `ftscale.` namespace names its class without the prefix.
    """
    if Path(checkpoint).is_dir():  # ModelParallelStrategy(save_distributed_checkpoint=True) writes one file per rank
        raise InputError(
            f"{checkpoint}: a sharded FSDP checkpoint folder; make it one file first with "
            f"`python -m lightning.fabric.utilities.consolidate_checkpoint {checkpoint}`"
        )
    if not Path(checkpoint).is_file():
        raise MissingFileError(f"checkpoint {str(checkpoint)!r} does not exist")
    try:
        hparams = torch.load(checkpoint, map_location="cpu", weights_only=True).get("hyper_parameters", {})
    except Exception as error:  # truncated, corrupt, or not a torch file at all: torch's errors vary by case
        raise InputError(f"{checkpoint}: not a readable checkpoint of `ftscale fit` ({type(error).__name__})") from None
    class_path = hparams.get("_class_path")
    if class_path is None:
        raise InputError(f"{checkpoint}: no method class recorded; was it written by `ftscale fit`?")
    if class_path.partition(".")[0] in PRE_NAMESPACE_ROOMS:
        class_path = kwargs["_class_path"] = f"ftscale.{class_path}"  # Lightning checks the recorded class too
    module_name, _, class_name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, FinetuneModule)):
        raise InputError(f"{checkpoint}: {class_path!r} is not a FinetuneModule method")
    return cls.load_from_checkpoint(checkpoint, **kwargs)


@functools.cache
def _info_once(message: str) -> None:
    """Say a message once per process (a runner or the pretraining loads many models alike)."""
    rank_zero_info(message)
