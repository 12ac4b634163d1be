"""The `ftscale` command: a table of subcommands, each a module with `main(argv) -> exit code`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from pathlib import Path

from ftscale.errors import InputError
from ftscale.sweeps.interrupts import INTERRUPTED, interruptible
from ftscale.sweeps.store.url import redact

LIGHTNING = ("fit", "validate", "test")  # LightningCLI's own subcommands
# name -> (module with main(argv), one line of help)
COMMANDS = {
    "fit": ("ftscale.cli.lightning", "finetune a method on a datamodule, then test the best checkpoint (LightningCLI)"),
    "validate": ("ftscale.cli.lightning", "evaluate a checkpoint on the validation split (LightningCLI)"),
    "test": ("ftscale.cli.lightning", "evaluate a checkpoint on the test split (LightningCLI)"),
    "pretrain": ("ftscale.cli.pretrain", "pretrain the built-in tiny model ladder on the embedded world (cached)"),
    "export": ("ftscale.cli.export", "write a finetuned checkpoint as a Hugging Face / peft directory"),
    "law": ("ftscale.cli.law", "fit, predict with and compare scaling laws on a table, or fit a sweep (--sweep DIR)"),
    "select": ("ftscale.cli.select", "which candidate to finetune for a target Df, from partial curves, and how sure"),
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


def input_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input: ftscale's own, argparse's and jsonargparse's usage errors (a bad option or
    config file; jsonargparse raises argparse's type), and Lightning's misconfiguration errors (its Trainer's options)
    when Lightning was loaded."""
    errors: list[type[Exception]] = [InputError, argparse.ArgumentError]
    lightning = sys.modules.get("lightning.fabric.utilities.exceptions")
    if lightning is not None:
        errors.append(lightning.MisconfigurationException)
    return tuple(errors)


def input_error(error: BaseException) -> BaseException | None:
    """The input error that `error` is, or that it was raised from (jsonargparse re-raises the error of a class's
    `__init__` as a ValueError `from` it); None when it is none."""
    while error is not None and not isinstance(error, input_errors()):
        error = error.__cause__
    return error


def hint(error: BaseException) -> str:
    """One line after the traceback of an exception that is no input error: what it probably is, what to do."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, torch.OutOfMemoryError):
        return (
            "hint: the GPU ran out of memory: lower data.batch_size (and data.eval_batch_size), shorten "
            "data.max_source_tokens / data.max_target_tokens, or shard the model (--trainer configs/trainer/fsdp.yaml)"
        )
    if isinstance(error, OSError):
        return "hint: an operating-system error (a path, its permissions, free disk space or a connection): see above"
    return (
        "hint: this is a bug in ftscale or in your own code (a method or datamodule class), not an input error; "
        "please report it with the traceback above (set FTSCALE_DEBUG=1 to see the traceback of input errors too)"
    )


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command. Bad input ends in one `error:` line and exit code 2 (FTSCALE_DEBUG=1 shows its
    traceback); any other exception prints its traceback and a one-line hint, exit code 1; Ctrl-C ends in one line
    saying that a rerun resumes, exit code 130."""
    wait_passively()
    from_sys_argv = argv is None
    argv = sys.argv[1:] if from_sys_argv else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(USAGE, end="", file=sys.stdout if not argv or argv[0] in ("-h", "--help") else sys.stderr)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    command, args = argv[0], argv[1:]
    if command not in ("law", "select"):  # these commands load no torch
        quiet_libraries()
    module = importlib.import_module(COMMANDS[command][0])
    if command not in LIGHTNING:  # the command line W&B records: no store password (`args` keep it)
        sys.argv[1:] = [redact(arg) for arg in sys.argv[1:]]
    try:
        with interruptible():
            if command in LIGHTNING:
                # LightningCLI warns when handed arguments that sys.argv also holds: let it read sys.argv itself then.
                return module.main(None if from_sys_argv else argv)
            return module.main(args)
    except KeyboardInterrupt:  # Ctrl-C: work in flight was saved and given back (sweeps), nothing failed
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:
        bad_input = input_error(err)
        if bad_input is None:
            traceback.print_exc()
            print(hint(err), file=sys.stderr)
            return 1
        if os.environ.get("FTSCALE_DEBUG"):
            raise
        # jsonargparse nests its reasons over several indented lines: one line, in order.
        print(f"error: {' '.join(str(bad_input).split())}", file=sys.stderr)
        return 2
