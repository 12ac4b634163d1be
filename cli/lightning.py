"""`ftscale fit|validate|test`: LightningCLI over any method x any finetuning datamodule."""

from __future__ import annotations

import inspect
import itertools
import logging
import sys
import time
from pathlib import Path

import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger

from ftscale.callbacks import GenerationMetrics, ScalingLawCallback, TrainingThroughput
from ftscale.callbacks.resume import ResumeCheckpoint, resume_path
from ftscale.configs import config_path
from ftscale.datamodules import FinetuneDataModule
from ftscale.errors import InputError
from ftscale.ladder.resolve import resolve_backbone
from ftscale.lightning_modules import FinetuneModule
from ftscale.reports.wandb_settings import project, quiet_settings, under_agent, wandb_mode
from ftscale.sweeps.spec import read_yaml

log = logging.getLogger(__name__)
EVALUATIONS = ("transfer", "retention")  # zero- and few-shot tests on tasks the run is not finetuned on


class FtscaleCLI(LightningCLI):
    """LightningCLI with ftscale's conventions.

    - `--ladder` names the pretraining config that `ladder:<size>[@<tokens>]` backbones come from; such a
      backbone is pretrained (cached) before the run and the datamodule uses the backbone's tokenizer.
    - Every run writes into its own directory under `runs/` unless `--trainer.default_root_dir` is given.
    - The checkpoint with the best `val/loss` is kept (the paper selects by dev-set perplexity), and `fit`
      ends by testing it; a run too short to validate keeps its final state as `last.ckpt` and tests that.
    - Besides the trainer's own logger, every run logs to W&B through `WandbLogger` (`--wandb`; offline
      without credentials); a run with `ScalingLawCallback` is its sweep point's `finetune` run.
    """

    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            FinetuneModule,
            FinetuneDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            # exit_on_error=False: a bad option or config file is one `error:` line from `ftscale`, not a usage dump.
            parser_kwargs={"prog": "ftscale", "default_env": False, "exit_on_error": False},
            args=args,
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: list[str] | None) -> None:
        """Parse `args` (None: sys.argv) with the config files' `configs/...` paths resolved (`config_args`)."""
        self.config = parser.parse_args(config_args(sys.argv[1:] if args is None else args))

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--ladder",
            default="configs/pretrain/ladder.yaml",
            help="Pretraining config (configs/pretrain/*.yaml) that defines ladder:<size>[@<tokens>] backbones.",
        )
        parser.add_argument(
            "--wandb",
            default=None,
            choices=["online", "offline", "off", None],
            help="W&B logging of the run: online (with credentials), offline (the default without), or off.",
        )
        parser.add_argument(
            "--transfer.data",
            default=None,
            help="A datamodule config (e.g. configs/eval/world_zero_shot.yaml) of a related task the run is not "
            "finetuned on: after fit (and before the task's own test) it is tested there, logged as transfer/k<N>/*.",
        )
        parser.add_argument(
            "--transfer.shots", type=list[int], default=[0], help="Demonstrations per prompt on the transfer task."
        )
        parser.add_argument(
            "--retention.data",
            default=None,
            help="Like --transfer.data, for a task whose target language the finetuning does not train (e.g. "
            "configs/eval/world_retention.yaml): what the run may forget; logged as retention/k<N>/*.",
        )
        parser.add_argument(
            "--retention.shots", type=list[int], default=[0], help="Demonstrations per prompt on the retention task."
        )
        parser.link_arguments("model.init_args.backbone", "data.init_args.tokenizer")
        parser.link_arguments("model.init_args.revision", "data.init_args.tokenizer_revision")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.monitor": "val/loss", "checkpoint.filename": "best", "checkpoint.save_top_k": 1}
        )
        # The full training state every few minutes, and on SIGTERM: a run started again in the same directory resumes.
        parser.add_lightning_class_args(ResumeCheckpoint, "resume")
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
        saved = resume_path(config.trainer.default_root_dir)
        if self.subcommand == "fit" and config.ckpt_path is None and saved.is_file():
            config.ckpt_path = str(saved)  # a killed or preempted run in this directory: go on from its state

    def instantiate_trainer(self, **kwargs) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        mode = wandb_mode(self.config[self.subcommand].wandb)
        if mode != "disabled" and trainer.loggers:  # `--trainer.logger false` turns every logger off
            trainer.loggers = [*trainer.loggers, *self._wandb_logger(trainer, mode)]
        return trainer

    def _wandb_logger(self, trainer: Trainer, mode: str) -> list[WandbLogger]:
        """The run's WandbLogger, started now so that an unreachable W&B falls back here and never fails the run."""
        point = next((c for c in trainer.callbacks if isinstance(c, ScalingLawCallback)), None)
        init = point.wandb_init() if point is not None else {}
        if under_agent():  # the agent's run is this point's run: it brings its own id
            init = {k: v for k, v in init.items() if k not in ("id", "resume")}
        save_dir = point.sweep_dir if point is not None else trainer.default_root_dir
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        for attempt in ["online", "offline"] if mode == "online" else [mode]:
            try:
                logger = WandbLogger(
                    project=project(),
                    save_dir=save_dir,
                    offline=attempt == "offline",
                    settings=quiet_settings(),
                    **init,
                )
                # Lightning 2.6 always passes `anonymous`, which wandb 0.31 deprecates with a terminal warning.
                logger._wandb_init.pop("anonymous", None)
                logger.experiment  # noqa: B018 (starts the run)
                return [logger]
            except Exception as err:  # W&B must never fail a run: unreachable, misconfigured or broken alike.
                log.warning("W&B %s logging failed (%s: %s)", attempt, type(err).__name__, str(err).splitlines()[:1])
        return []

    def after_fit(self) -> None:
        checkpoint = self.best_checkpoint
        best = checkpoint.best_model_path
        if not best:
            # Shorter than one validation interval: keep the end state (for `ftscale export`), validate and test it.
            last = Path(checkpoint.dirpath or self.trainer.default_root_dir) / "last.ckpt"
            self.trainer.save_checkpoint(last)
            self.trainer.validate(self.model, datamodule=self.datamodule)
        self.test_transfer(best or None)
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None)
        if self.trainer.is_global_zero:
            ResumeCheckpoint.remove(self.trainer.default_root_dir)

    @property
    def best_checkpoint(self) -> ModelCheckpoint:
        """The `--checkpoint` callback (best val/loss), not the resume one."""
        return next(c for c in self.trainer.checkpoint_callbacks if not isinstance(c, ResumeCheckpoint))

    def before_test(self) -> None:
        self.test_transfer(self.config[self.subcommand].get("ckpt_path"))

    def test_transfer(self, ckpt_path: str | None) -> None:
        """Test on `--transfer.data` and `--retention.data` with each of their `shots` k, as `transfer/k<k>/*` and
        `retention/k<k>/*`, before the task's test (the run's ScalingLawCallback records the point with it)."""
        config = self.config[self.subcommand]
        for prefix in EVALUATIONS:
            evaluation = config[prefix]
            if not evaluation.data:
                continue
            for shots in evaluation.shots:
                self.model.test_prefix = f"{prefix}/k{shots}"
                try:
                    data = transfer_datamodule(evaluation.data, self.datamodule, shots, prefix)
                    self.trainer.test(self.model, datamodule=data, ckpt_path=ckpt_path, verbose=False)
                finally:
                    self.model.test_prefix = "test"


def transfer_datamodule(path: str, run: FinetuneDataModule, shots: int, option: str = "transfer") -> FinetuneDataModule:
    """The datamodule of a config file for a transfer evaluation: the run's data options where the class is the
    same (sizes, seeds, limits), else the options every task shares; `num_shots` = `shots`."""
    file = config_path(path)
    raw = yaml.safe_load(file.read_text()) if file.is_file() else None
    if not isinstance(raw, dict) or not isinstance(raw.get("class_path"), str):
        raise InputError(f"--{option}.data={path!r}: expected a datamodule config file with a class_path")
    run_class = f"{type(run).__module__}.{type(run).__qualname__}"
    same = raw["class_path"] in (run_class, f"{run_class.rsplit('.', 2)[0]}.{type(run).__qualname__}")
    shared = set(inspect.signature(FinetuneDataModule.__init__).parameters) - {"self"}
    args = {k: v for k, v in run.hparams.items() if not k.startswith("_") and (same or k in shared)}
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(FinetuneDataModule, "data")
    init = args | (raw.get("init_args") or {}) | {"num_shots": shots}
    config = parser.parse_object({"data": {"class_path": raw["class_path"], "init_args": init}})
    return parser.instantiate_classes(config).data


CONFIG_OPTIONS = ("-c", "--config", "--model", "--data", "--trainer", "--ladder", "--transfer.data", "--retention.data")


def config_args(argv: list[str]) -> list[str]:
    """`argv` with the file of each config option (`--config FILE`, `--config=FILE`) found where `config_path` finds
    it: a `configs/...` path works from any directory. Other values (a class path, inline YAML) stay as given."""

    def resolved(value: str) -> str:
        path = config_path(value)
        return value if path == Path(value) else str(path)

    out = []
    for before, arg in zip(["", *argv], argv, strict=False):
        option, equals, value = arg.partition("=")
        if equals and option in CONFIG_OPTIONS:
            out.append(f"{option}={resolved(value)}")
        else:
            out.append(resolved(arg) if before in CONFIG_OPTIONS else arg)
    return out


def check_config_files(argv: list[str]) -> None:
    """Every config file named on the command line is a YAML mapping; else one ValueError naming the file
    (LightningCLI's own message would not name it)."""
    for option, value in itertools.pairwise(argv):
        if option in CONFIG_OPTIONS and value.endswith((".yaml", ".yml", ".json")) and Path(value).is_file():
            content = read_yaml(Path(value))
            if not isinstance(content, dict):
                raise InputError(
                    f"{value}: expected a YAML mapping of options ({option}), got {type(content).__name__}"
                )


def main(argv: list[str] | None) -> int:
    """`ftscale fit|validate|test ...` (argv None: LightningCLI reads sys.argv)."""
    check_config_files(config_args(sys.argv[1:] if argv is None else argv))
    try:
        FtscaleCLI(argv)
    except BaseException:
        finish_wandb_run(exit_code=1)
        raise
    finish_wandb_run(exit_code=0)
    return 0


def finish_wandb_run(exit_code: int) -> None:
    """End the run's W&B run now, marked finished or failed: Lightning leaves it open, and a process that ends
    (or a runner that starts the next point) before wandb's exit hook has written the run's last records loses
    them."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.run.finish(exit_code=exit_code)
