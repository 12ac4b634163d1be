"""LoRA: trained low-rank updates on the frozen backbone's linear projections."""

from peft import LoraConfig, TaskType, get_peft_model
from torch import nn
from transformers import PreTrainedModel

from lightning_modules.base import FinetuneModule


class LoRA(FinetuneModule):
    """LoRA (Hu et al. 2021) through peft.

    Args:
        rank: LoRA rank r (paper default 4; grid 4 ... 128).
        alpha: LoRA scaling numerator; the update is scaled by alpha / rank.
        dropout: Dropout on the LoRA input.
        target_modules: Module names to adapt; `all-linear` (default) is every attention and feed-forward
            projection, as in the paper, and works for any architecture.
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    def __init__(
        self,
        rank: int = 4,
        alpha: float = 8.0,
        dropout: float = 0.0,
        target_modules: str | list[str] = "all-linear",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        hp = self.hparams
        config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=hp.rank,
            lora_alpha=hp.alpha,
            lora_dropout=hp.dropout,
            target_modules=hp.target_modules,
        )
        return get_peft_model(backbone, config)
