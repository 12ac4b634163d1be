"""IA3: learned vectors that rescale the keys, values and feed-forward activations of a frozen backbone."""

from peft import IA3Config, TaskType

from ftscale.lightning_modules.peft_method import PeftMethod


class IA3(PeftMethod):
    """(IA)^3 (Liu et al. 2022) through peft. It has no size: a sweep gives it no pet_size axis.

    Args:
        target_modules: Module names whose outputs (or, for `feedforward_modules`, inputs) are rescaled; None is
            peft's choice for the architecture (Llama: k_proj, v_proj, down_proj), which other architectures must
            name.
        feedforward_modules: Those of `target_modules` that are feed-forward layers (their input is rescaled).
        **kwargs: The shared options of `FinetuneModule` (backbone, optimizer, learning_rate, ...).
    """

    preserves_backbone_untrained = True  # the vectors start at one

    def __init__(
        self,
        target_modules: list[str] | None = None,
        feedforward_modules: list[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()

    def peft_config(self) -> IA3Config:
        hp = self.hparams
        return IA3Config(
            task_type=TaskType.CAUSAL_LM,
            target_modules=hp.target_modules,
            feedforward_modules=hp.feedforward_modules,
        )
