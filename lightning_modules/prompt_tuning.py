"""Prompt tuning: a trained soft prompt prepended to the input embeddings of a frozen backbone."""

from typing import Literal

import torch
from peft import PromptTuningConfig, PromptTuningInit, TaskType
from torch import nn
from transformers import PretrainedConfig

from ftscale.backbones.params import ParameterCounts
from ftscale.errors import InputError
from ftscale.lightning_modules.peft_method import PeftMethod


class PromptTuning(PeftMethod):
    """Prompt tuning (Lester et al. 2021) through peft.

    Args:
        num_virtual_tokens: Prompt length |P| (paper default 100; grid 50 ... 600).
        init: `sample_vocab` initialises the prompt from sampled vocabulary embeddings (the paper's choice),
            `text` from the embeddings of `init_text`, `random` from noise.
        init_text: Text whose tokens initialise the prompt when `init` is `text`.
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    pet_size_argument = "num_virtual_tokens"

    def __init__(
        self,
        num_virtual_tokens: int = 100,
        init: Literal["sample_vocab", "text", "random"] = "sample_vocab",
        init_text: str | None = None,
        **kwargs,
    ) -> None:
        if init == "text" and not init_text:
            raise InputError("model.init_text is required when model.init is 'text'")
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def peft_config(self) -> PromptTuningConfig:
        hp = self.hparams
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=hp.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit[hp.init.upper()],
            prompt_tuning_init_text=hp.init_text,
            tokenizer_name_or_path=hp.backbone if hp.init == "text" else None,
        )

    def count_trainable_parameters(self, config: PretrainedConfig) -> int:
        if self.hparams.init != "text":
            return super().count_trainable_parameters(config)
        # The prompt's size does not depend on its init, and a text init reads the backbone's tokenizer, which a
        # sweep's plan may not have (a ladder model not pretrained yet): count a random init of the same length.
        args = {k: v for k, v in self.hparams.items() if not k.startswith("_")} | {"init": "random", "init_text": None}
        return type(self)(**args).count_trainable_parameters(config)

    @property
    def prepended_tokens(self) -> int:
        return self.hparams.num_virtual_tokens

    def flops_per_token(self, counts: ParameterCounts, trainable: int) -> int:
        """The frozen model's 4 x `counts.per_token`: the prompt is looked up, not multiplied with tokens; its own
        positions, which run through the whole model, are in `prepended_tokens`."""
        return 4 * counts.per_token

    def generation_model(self) -> tuple[nn.Module, torch.Tensor | None]:
        # peft's own generate drops the position ids of left-padded prompts, which would leave the padding between
        # the soft prompt and the text: the backbone reads [padding, soft prompt, prompt] embeddings instead.
        return self.model.get_base_model(), self.model.get_prompt(batch_size=1)[0]
