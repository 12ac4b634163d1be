"""The `ftscale` command: one table of subcommands, each a typed function (`cli/commands.py`), a group of them, or
a module that parses its own arguments (LightningCLI's fit, validate and test)."""

from __future__ import annotations

import argparse
import logging
import os
import pkgutil
import sys
import traceback
from pathlib import Path

from ftscale.cli.commands import Function, Group, Module, run
from ftscale.errors import InputError
from ftscale.sweeps.interrupts import INTERRUPTED, interruptible
from ftscale.sweeps.store.url import redact

LIGHTNING = ("fit", "validate", "test")  # LightningCLI's own subcommands: it is handed the whole command line
TORCH_FREE = ("law", "select")  # commands that load no torch (so no library needs quieting)
COMMANDS = Group(
    "Measure how LLM finetuning scales (Zhang et al., ICLR 2024).",
    {
        # main() hands LightningCLI the whole command line: it parses fit/validate/test itself.
        "fit": Module(
            "ftscale.cli.lightning", "finetune a method on a datamodule, then test the best checkpoint (LightningCLI)"
        ),
        "validate": Module("ftscale.cli.lightning", "evaluate a checkpoint on the validation split (LightningCLI)"),
        "test": Module("ftscale.cli.lightning", "evaluate a checkpoint on the test split (LightningCLI)"),
        "pretrain": Function(
            "ftscale.cli.pretrain:pretrain", "pretrain the built-in tiny model ladder on the embedded world (cached)"
        ),
        "export": Function(
            "ftscale.cli.export:export", "write a finetuned checkpoint as a Hugging Face / peft directory"
        ),
        "law": Group(
            "fit, predict with and compare finetuning scaling laws on tables of measurements; fit a sweep",
            {
                "fit": Function("ftscale.cli.law:fit", "fit one law (or choose among several) to a table of points"),
                "fit-sweep": Function(
                    "ftscale.cli.law_sweep:fit_sweep",
                    "fit every law of a sweep directory (also a partial sweep): laws.json, figures, report.html",
                ),
                "predict": Function("ftscale.cli.law:predict", "predicted loss on a grid of X and Df"),
                "critical": Function("ftscale.cli.law:critical", "where two methods' laws cross"),
                "decide": Function("ftscale.cli.law:decide", "which method to use at a target X and Df"),
                "needed": Function("ftscale.cli.law:needed", "examples needed to reach a loss"),
                "forms": Function(
                    "ftscale.cli.law:forms", "the law forms `law fit --law` can name, with their formulas"
                ),
            },
        ),
        "select": Function(
            "ftscale.cli.select:select",
            "which candidate to finetune for a target Df, from partial curves, and how sure",
        ),
        "sweep": Group(
            "plan, run, run one point of, summarise, migrate or export a sweep",
            {
                "plan": Function(
                    "ftscale.cli.sweep:plan", "print the points of a spec and what they cost; runs nothing"
                ),
                "init": Function(
                    "ftscale.cli.sweep:init",
                    "put a spec's points in its store and print each point's `ftscale fit` command (your own launcher)",
                ),
                "run": Function(
                    "ftscale.cli.sweep:run", "run every pending point (resumes: finished points are never rerun)"
                ),
                "point": Function(
                    "ftscale.cli.sweep:point", "run one point by id into the sweep's store (what a W&B agent runs)"
                ),
                "status": Function(
                    "ftscale.cli.sweep:status", "summarise a sweep directory: counts, metrics and errors"
                ),
                "migrate": Function(
                    "ftscale.cli.sweep:migrate",
                    "copy a sweep's store to another (SQLite <-> PostgreSQL): statuses, metrics, completion",
                ),
                "export-wandb": Function(
                    "ftscale.cli.sweep:export_wandb",
                    "write a W&B sweep config whose agents run the points (wandb sweep FILE; wandb agent ID)",
                ),
            },
            epilog="A sweep spec (configs/sweeps/*.yaml) expands into finetuning runs, run into a results store that "
            "several runners (or machines) can share.",
        ),
        "demo": Function(
            "ftscale.cli.demo:demo", "the whole study on the embedded world: pretrain, sweep, fit, report.html"
        ),
    },
    epilog="quick start: ftscale demo            one run: ftscale fit --config configs/quickstart.yaml",
)
# bitsandbytes' CPU backend offers a hub-downloaded kernel when imported; the built-in path works without it.
# Set when this module loads, so spawned runner and pretraining processes (which load it first) are quiet too.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


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
    # peft's get_peft_model asks transformers 5 for a renamed attribute; nothing a user can act on either.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


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
    command = argv[0] if argv else None
    if command in COMMANDS.commands and command not in TORCH_FREE:
        quiet_libraries()
    if command not in LIGHTNING:  # the command line W&B records: no store password (`argv` keeps it)
        sys.argv[1:] = [redact(arg) for arg in sys.argv[1:]]
    try:
        with interruptible():
            if command in LIGHTNING:
                from ftscale.cli.lightning import main as lightning

                # LightningCLI warns when handed arguments that sys.argv also holds: let it read sys.argv itself then.
                return lightning(None if from_sys_argv else argv)
            return run(COMMANDS, "ftscale", argv)
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
