"""The argparse parser of the commands not yet converted to typed functions (`sweep`, `demo`), and their shared
options, whose help comes from `cli/options.py` (defined once). Goes when those commands become functions
(`cli/commands.py`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftscale.cli import options


class Parser(argparse.ArgumentParser):
    """argparse with one-line `error: ...` messages and exit code 2, as the rest of the CLI."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def parser(prog: str, description: str) -> Parser:
    return Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_spec(command: argparse.ArgumentParser) -> None:
    command.add_argument("spec", help=options.help_of(options.Spec))


def add_sweep_dir(command: argparse.ArgumentParser, default: str = "runs/sweeps/<name>") -> None:
    command.add_argument("--dir", type=Path, help=f"sweep directory (default: {default})")


def add_store(command: argparse.ArgumentParser) -> None:
    command.add_argument("--store", metavar="URL", help=options.help_of(options.StoreURL))


def add_wandb(command: argparse.ArgumentParser) -> None:
    command.add_argument("--wandb", choices=options.WANDB_MODES, help=options.help_of(options.WandbMode))


def add_workers(command: argparse.ArgumentParser, default: int = 1) -> None:
    command.add_argument(
        "--workers", type=int, default=default, help=f"{options.help_of(options.Workers)} (default: {default})"
    )


def add_retry_failed(command: argparse.ArgumentParser) -> None:
    command.add_argument("--retry-failed", action="store_true", help=options.help_of(options.RetryFailed))
