"""Methods that are a peft config: the backbone wrapped by peft's `get_peft_model`."""

from peft import PeftConfig, get_peft_model
from torch import nn
from transformers import PreTrainedModel

from ftscale.lightning_modules.base import FinetuneModule


class PeftMethod(FinetuneModule):
    """A method from peft: a subclass builds its `peft_config()` from its arguments (and declares what differs from
    `FinetuneModule`'s defaults, e.g. `pet_size_argument`); checkpoints, export and costs come from the base."""

    def peft_config(self) -> PeftConfig:
        """The peft config (task type CAUSAL_LM) of this method's arguments."""
        raise NotImplementedError

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        return get_peft_model(backbone, self.peft_config())
