"""The `ftscale` command."""

import os
import sys

USAGE = """usage: ftscale <command> [options]

Measure how LLM finetuning scales (Zhang et al., ICLR 2024).

commands:
  fit        finetune a method on a datamodule, then test the best checkpoint (LightningCLI)
  validate   evaluate a checkpoint on the validation split (LightningCLI)
  test       evaluate a checkpoint on the test split (LightningCLI)
  pretrain   pretrain the built-in tiny model ladder on the embedded world (cached)
  export     write a finetuned checkpoint as a Hugging Face / peft directory
  law        fit, predict with and compare scaling laws on a table of measurements
             (`ftscale law fit --sweep DIR [--from-wandb ENTITY/PROJECT] [--wandb-report]` fits a sweep)
  sweep      plan, run (resumable, several runners), run one point, summarise a sweep of finetuning
             runs, or export it as a W&B sweep for agents on many machines
  demo       the whole study on the embedded world: pretrain, sweep, fit, report.html

Run `ftscale <command> --help` for the options of a command.
quick start: ftscale demo            one run: ftscale fit --config configs/quickstart.yaml
"""


def quiet_libraries() -> None:
    """Keep the terminal for ftscale's own output: no per-load bars, hardware banners or tips."""
    import logging
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # bitsandbytes' CPU backend offers a hub-downloaded kernel at import; the built-in path works without it.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # Lightning's own use of a deprecated torch pytree API; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def _run(command: str, args: list[str], from_sys_argv: bool) -> int:
    if command == "law" and "--sweep" in args:  # a sweep directory, not a table of measurements
        from ftscale.sweeps.finalize import main as fit_sweep_main

        return fit_sweep_main(args[1:] if args[:1] == ["fit"] else args)
    if command == "law":
        from ftscale.scaling_laws.cli import main as law_main

        return law_main(args)
    quiet_libraries()
    if command == "sweep":
        from ftscale.sweeps.sweep_cli import main as sweep_main

        return sweep_main(args)
    if command == "demo":
        from ftscale.sweeps.demo import main as demo_main

        return demo_main(args)
    if command == "pretrain":
        from ftscale.backbones.pretrain import main as pretrain_main

        return pretrain_main(args)
    if command == "export":
        from ftscale.sweeps.export import main as export_main

        return export_main(args)
    from ftscale.sweeps.lightning_cli import FtscaleCLI

    # LightningCLI warns when handed arguments that sys.argv also holds: let it read sys.argv itself then.
    FtscaleCLI(None if from_sys_argv else [command, *args])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; input errors end in one `error:` line (FTSCALE_DEBUG=1 shows the traceback)."""
    from_sys_argv = argv is None
    argv = sys.argv[1:] if from_sys_argv else argv
    if (
        not argv
        or argv[0] in ("-h", "--help")
        or argv[0] not in {"fit", "validate", "test", "pretrain", "export", "law", "sweep", "demo"}
    ):
        print(USAGE, end="")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    try:
        return _run(argv[0], argv[1:], from_sys_argv)
    except (ValueError, FileNotFoundError, KeyError) as err:
        if os.environ.get("FTSCALE_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
