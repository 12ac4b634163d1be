"""What several commands take, defined once: value types that check themselves, and the shared options as typed
aliases carrying their help. A command's function names them in its signature (`store: StoreURL = None`);
`cli/commands.py` turns the signature into options."""

from __future__ import annotations

import math
from argparse import ArgumentTypeError
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from jsonargparse.typing import register_type


@dataclass(frozen=True)
class Help:
    """The help text of an option several commands share, carried by its type: `Annotated[T, Help("...")]`.
    A command's own docstring (`Args:`) replaces it where the option means something more specific there."""

    text: str


def help_of(option: Any) -> str | None:
    """The help text an option's type carries (`Annotated[T, Help(...)]`), or None."""
    return next((m.text for m in getattr(option, "__metadata__", ()) if isinstance(m, Help)), None)


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{value!r} is not a number") from None


class Positive(float):
    """A finite number > 0 (model sizes, data sizes and losses all are)."""

    def __new__(cls, value: object) -> Positive:
        number = _number(value)
        if not 0 < number < math.inf:
            raise ArgumentTypeError(f"{value!r} must be a finite number > 0")
        return super().__new__(cls, number)


class Coverage(float):
    """An interval's coverage, a number in (0, 1) such as 0.95."""

    def __new__(cls, value: object) -> Coverage:
        number = _number(value)
        if not 0 < number < 1:
            raise ArgumentTypeError(f"{value!r} must be a coverage in (0, 1), e.g. 0.95")
        return super().__new__(cls, number)


# jsonargparse checks a registered type with its constructor (a float subclass would otherwise be taken for a class
# to instantiate from a config). An ArgumentTypeError's message is what both argparse (which checks each value of a
# repeatable option) and jsonargparse print.
for _type in (Positive, Coverage):
    register_type(_type, serializer=float, deserializer=_type, deserializer_exceptions=(ArgumentTypeError,))

Spec = Annotated[str, Help("sweep spec YAML, e.g. configs/sweeps/demo.yaml")]
SweepDir = Annotated[Path | None, Help("sweep directory; not given: runs/sweeps/<the spec's name>")]
StoreURL = Annotated[
    str | None,
    Help(
        "results store: sqlite:///path/results.sqlite (one machine) or postgresql://user@host/db (many); "
        "not given: $FTSCALE_STORE, else the sweep directory's results.sqlite"
    ),
]
WANDB_MODES = ("online", "offline", "off")
WandbMode = Annotated[
    Literal[WANDB_MODES] | None,
    Help("W&B mode of the points and the fit; not given: online with credentials, else offline"),
]
Workers = Annotated[int, Help("runner processes")]
RetryFailed = Annotated[bool, Help("run failed points again")]
