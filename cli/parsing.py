"""The parser every non-Lightning command uses, and the options several commands share, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """argparse with one-line `error: ...` messages and exit code 2, as the rest of the CLI."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def parser(prog: str, description: str) -> Parser:
    return Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_spec(command: argparse.ArgumentParser) -> None:
    command.add_argument("spec", help="sweep spec YAML, e.g. configs/sweeps/demo.yaml")


def add_sweep_dir(command: argparse.ArgumentParser, default: str = "runs/sweeps/<name>") -> None:
    command.add_argument("--dir", type=Path, help=f"sweep directory (default: {default})")


def add_store(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--store",
        metavar="URL",
        help="results store: sqlite:///path/results.sqlite (one machine) or postgresql://user@host/db (many); "
        "default $FTSCALE_STORE, else the sweep directory's results.sqlite",
    )


def add_wandb(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wandb",
        choices=["online", "offline", "off"],
        help="W&B mode of the points and the fit (default: online with credentials, else offline)",
    )


def add_workers(command: argparse.ArgumentParser, default: int = 1) -> None:
    command.add_argument("--workers", type=int, default=default, help=f"runner processes (default: {default})")


def add_retry_failed(command: argparse.ArgumentParser) -> None:
    command.add_argument("--retry-failed", action="store_true", help="run failed points again")
