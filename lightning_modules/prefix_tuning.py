"""Prefix tuning: trained keys and values that every layer's attention reads before the input's."""

from peft import PrefixTuningConfig, TaskType

from ftscale.backbones.params import ParameterCounts
from ftscale.lightning_modules.peft_method import PeftMethod


class PrefixTuning(PeftMethod):
    """Prefix tuning (Li and Liang 2021) through peft, without the reparametrisation MLP: `num_virtual_tokens`
    trained key/value pairs per layer. The prefix adds no tokens to the input (unlike prompt tuning's soft
    prompt, it never runs through the feed-forward layers), so generation needs nothing special.

    Args:
        num_virtual_tokens: Prefix length, the method's PET size.
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    pet_size_argument = "num_virtual_tokens"

    def __init__(self, num_virtual_tokens: int = 20, **kwargs) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def peft_config(self) -> PrefixTuningConfig:
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=self.hparams.num_virtual_tokens)

    def flops_per_token(self, counts: ParameterCounts, trainable: int) -> int:
        """The default (4 x `counts.per_token` + 6 x per trained element) with each prefix key and value read by
        every query head of its group: a token's scores against a prefix key and its sum over the prefix values
        cost 2 FLOPs per element and query head forward, 4 backward (grouped-query attention shares a key/value
        head among heads / key_value_heads query heads)."""
        config = counts.config.get_text_config()
        heads = config.num_attention_heads
        group = heads // (getattr(config, "num_key_value_heads", None) or heads)
        return 4 * counts.per_token + 6 * trainable * group
