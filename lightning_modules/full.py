"""Full-model tuning (FMT): every backbone parameter trains."""

from torch import nn
from transformers import PreTrainedModel

from ftscale.lightning_modules.base import FinetuneModule


class FullFinetune(FinetuneModule):
    """Full-model tuning: the backbone is trained as it is."""

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        return backbone.requires_grad_(True)
