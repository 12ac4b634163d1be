"""LoRA: trained low-rank updates on the frozen backbone's linear projections."""

from typing import Literal

from peft import LoraConfig, TaskType, prepare_model_for_kbit_training
from transformers import PreTrainedModel

from ftscale.backbones.loading import load_backbone, quantization_config
from ftscale.errors import InputError
from ftscale.lightning_modules.peft_method import PeftMethod


class LoRA(PeftMethod):
    """LoRA (Hu et al. 2021) through peft.

    Args:
        rank: LoRA rank r (paper default 4; grid 4 ... 128).
        alpha: LoRA scaling numerator; the update is scaled by alpha / rank.
        dropout: Dropout on the LoRA input.
        target_modules: Module names to adapt; `all-linear` (default) is every attention and feed-forward
            projection, as in the paper, and works for any architecture.
        quantization: QLoRA (Dettmers et al. 2023): load the frozen backbone in bitsandbytes `nf4` (4-bit,
            bf16 compute) or `int8`; the adapter trains in full precision. Not under FSDP.
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    pet_size_argument = "rank"
    preserves_backbone_untrained = True  # B starts at zero

    def __init__(
        self,
        rank: int = 4,
        alpha: float = 8.0,
        dropout: float = 0.0,
        target_modules: str | list[str] = "all-linear",
        quantization: Literal["nf4", "int8"] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def load(self, attn_implementation: str) -> PreTrainedModel:
        quantization = self.hparams.quantization
        if quantization is None:
            return super().load(attn_implementation)
        if self.device_mesh is not None:
            raise InputError("model.quantization does not run under FSDP (ModelParallelStrategy); unset one of them")
        backbone = load_backbone(
            self.hparams.backbone,
            attn_implementation,
            quantization=quantization_config(quantization),
            revision=self.hparams.revision,
        )
        # Norms and head in fp32, base frozen; the base class enables activation checkpointing when asked.
        return prepare_model_for_kbit_training(backbone, use_gradient_checkpointing=False)

    def peft_config(self) -> LoraConfig:
        hp = self.hparams
        return LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=hp.rank,
            lora_alpha=hp.alpha,
            lora_dropout=hp.dropout,
            target_modules=hp.target_modules,
        )
