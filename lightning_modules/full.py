"""Full-model tuning (FMT): every backbone parameter trains."""

from torch import nn
from transformers import PreTrainedModel

from ftscale.backbones.params import ParameterCounts
from ftscale.lightning_modules.base import FinetuneModule


class FullFinetune(FinetuneModule):
    """Full-model tuning: the backbone is trained as it is."""

    preserves_backbone_untrained = True
    full_model_tuning = True

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        return backbone.requires_grad_(True)

    def flops_per_token(self, counts: ParameterCounts, trainable: int) -> int:
        """6 x `counts.per_token` (Kaplan et al.'s 6N): every parameter a token multiplies through is trained."""
        return 6 * counts.per_token
