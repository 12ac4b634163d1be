"""Prompt tuning: a trained soft prompt prepended to the input embeddings of a frozen backbone."""

from typing import Literal

from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model
from torch import nn
from transformers import PreTrainedModel

from ftscale.lightning_modules.base import FinetuneModule


class PromptTuning(FinetuneModule):
    """Prompt tuning (Lester et al. 2021) through peft.

    Args:
        num_virtual_tokens: Prompt length |P| (paper default 100; grid 50 ... 600).
        init: `sample_vocab` initialises the prompt from sampled vocabulary embeddings (the paper's choice),
            `text` from the embeddings of `init_text`, `random` from noise.
        init_text: Text whose tokens initialise the prompt when `init` is `text`.
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    def __init__(
        self,
        num_virtual_tokens: int = 100,
        init: Literal["sample_vocab", "text", "random"] = "sample_vocab",
        init_text: str | None = None,
        **kwargs,
    ) -> None:
        if init == "text" and not init_text:
            raise ValueError("model.init_text is required when model.init is 'text'")
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def adapt(self, backbone: PreTrainedModel) -> nn.Module:
        hp = self.hparams
        config = PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=hp.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit[hp.init.upper()],
            prompt_tuning_init_text=hp.init_text,
            tokenizer_name_or_path=hp.backbone if hp.init == "text" else None,
        )
        return get_peft_model(backbone, config)
