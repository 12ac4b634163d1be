"""`ftscale fit|validate|test`: LightningCLI over any method x any finetuning datamodule."""

import time
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from ftscale.backbones.spec import resolve_backbone
from ftscale.callbacks.generation_metrics import GenerationMetrics
from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.datamodules import FinetuneDataModule
from ftscale.lightning_modules import FinetuneModule


class FtscaleCLI(LightningCLI):
    """LightningCLI with ftscale's conventions.

    - `--ladder` names the pretraining config that `ladder:<size>[@<tokens>]` backbones come from; such a
      backbone is pretrained (cached) before the run and the datamodule uses the backbone's tokenizer.
    - Every run writes into its own directory under `runs/` unless `--trainer.default_root_dir` is given.
    - The checkpoint with the best `val/loss` is kept (the paper selects by dev-set perplexity), and `fit`
      ends by testing it.
    """

    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            FinetuneModule,
            FinetuneDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            parser_kwargs={"prog": "ftscale", "default_env": False},
            args=args,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--ladder",
            default="configs/pretrain/ladder.yaml",
            help="Pretraining config (configs/pretrain/*.yaml) that defines ladder:<size>[@<tokens>] backbones.",
        )
        parser.link_arguments("model.init_args.backbone", "data.init_args.tokenizer")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.monitor": "val/loss", "checkpoint.filename": "best", "checkpoint.save_top_k": 1}
        )
        # Generation metrics (BLEU, chrF, ROUGE) on the first test examples; --generation.max_examples 0 turns them off.
        parser.add_lightning_class_args(GenerationMetrics, "generation")
        # Tokens/s, samples/s, MFU and padding fraction of training, logged and recorded in the sweep store.
        parser.add_lightning_class_args(TrainingThroughput, "throughput")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        path = resolve_backbone(config.model.init_args.backbone, config.ladder)
        config.model.init_args.backbone = path
        config.data.init_args.tokenizer = path
        if config.trainer.default_root_dir is None:
            method = config.model.class_path.rsplit(".", 1)[-1]
            config.trainer.default_root_dir = str(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{method}")

    def after_fit(self) -> None:
        # A run shorter than one validation interval has no best checkpoint: validate and test its end state.
        best = self.trainer.checkpoint_callback.best_model_path
        if not best:
            self.trainer.validate(self.model, datamodule=self.datamodule)
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None)
