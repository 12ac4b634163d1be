"""The `ftscale` command: a table of subcommands, each a module with `main(argv) -> exit code`."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from argparse import ArgumentError
from pathlib import Path

LIGHTNING = ("fit", "validate", "test")  # LightningCLI's own subcommands
# name -> (module with main(argv), one line of help)
COMMANDS = {
    "fit": ("ftscale.cli.lightning", "finetune a method on a datamodule, then test the best checkpoint (LightningCLI)"),
    "validate": ("ftscale.cli.lightning", "evaluate a checkpoint on the validation split (LightningCLI)"),
    "test": ("ftscale.cli.lightning", "evaluate a checkpoint on the test split (LightningCLI)"),
    "pretrain": ("ftscale.cli.pretrain", "pretrain the built-in tiny model ladder on the embedded world (cached)"),
    "export": ("ftscale.cli.export", "write a finetuned checkpoint as a Hugging Face / peft directory"),
    "law": ("ftscale.cli.law", "fit, predict with and compare scaling laws on a table, or fit a sweep (--sweep DIR)"),
    "sweep": ("ftscale.cli.sweep", "plan, run, run one point of, summarise, migrate or export a sweep"),
    "demo": ("ftscale.cli.demo", "the whole study on the embedded world: pretrain, sweep, fit, report.html"),
}
# bitsandbytes' CPU backend offers a hub-downloaded kernel when imported; the built-in path works without it.
# Set when this module loads, so spawned runner and pretraining processes (which load it first) are quiet too.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
USAGE = (
    "usage: ftscale <command> [options]\n\nMeasure how LLM finetuning scales (Zhang et al., ICLR 2024).\n\ncommands:\n"
    + "".join(f"  {name:9s}  {text}\n" for name, (_, text) in COMMANDS.items())
    + "\nRun `ftscale <command> --help` for the options of a command.\n"
    "quick start: ftscale demo            one run: ftscale fit --config configs/quickstart.yaml\n"
)


def wait_passively() -> None:
    """Let torch's OpenMP threads sleep, not spin, while they wait (read once, when torch loads): on a machine
    whose cores other processes also use, spinning threads made small models train 3 to 5 times slower."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def quiet_libraries() -> None:
    """Keep the terminal for ftscale's own output: no per-load bars, hardware banners or tips."""
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(OwnInfoOnly())
    # wandb's own terminal lines (e.g. a deprecation warning about an option Lightning's WandbLogger passes).
    os.environ.setdefault("WANDB_SILENT", "true")
    # Lightning's own use of a deprecated torch pytree API; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


class OwnInfoOnly(logging.Filter):
    """Lightning's rank-zero INFO lines (hardware banners, tips) are dropped; ftscale's own `rank_zero_info` lines,
    and every warning, pass."""

    def __init__(self) -> None:
        super().__init__()
        rooms = Path(__file__).resolve().parents[1]  # the folder that holds cli/ and the other rooms
        self.own = tuple(f"{rooms / room.name}{os.sep}" for room in pkgutil.iter_modules([str(rooms)]) if room.ispkg)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.pathname.startswith(self.own)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; input errors end in one `error:` line (FTSCALE_DEBUG=1 shows the traceback)."""
    wait_passively()
    from_sys_argv = argv is None
    argv = sys.argv[1:] if from_sys_argv else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(USAGE, end="", file=sys.stdout if not argv or argv[0] in ("-h", "--help") else sys.stderr)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    command, args = argv[0], argv[1:]
    if command != "law":  # the law commands load no torch
        quiet_libraries()
    module = importlib.import_module(COMMANDS[command][0])
    try:
        if command in LIGHTNING:
            # LightningCLI warns when handed arguments that sys.argv also holds: let it read sys.argv itself then.
            return module.main(None if from_sys_argv else argv)
        return module.main(args)
    except (ValueError, FileNotFoundError, KeyError, OSError, RuntimeError, ArgumentError) as err:
        if os.environ.get("FTSCALE_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        # jsonargparse nests its reasons over several indented lines: one line, in order.
        print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2
