"""Commands as typed functions, parsed by jsonargparse: a function's signature is its command line and its docstring
its `--help`; a table of them (`main.COMMANDS`) is the `ftscale` command.

A function's positional parameters are positional arguments and its keyword-only ones (after `*`) are options,
named with dashes (`held_out` -> `--held-out`); its docstring's first paragraphs describe the command and its
`Args:` section the options (else the `Help` of a shared option's type, `cli/options.py`). A `list[T]` takes one
or more values (`--df 1e3 1e4`), and an option may repeat (`--held-out x=max --held-out df=max`); a `Literal`
takes one of its values; a `bool` option is a flag with a `--no-` twin. jsonargparse checks every other type
(numbers, paths, the types of `cli/options.py`) and `--help` shows each option's type and default.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn, Union

import docstring_parser
from jsonargparse import ArgumentParser, DefaultHelpFormatter

from ftscale.cli.options import help_of
from ftscale.errors import InputError

HELP = ("-h", "--help")


@dataclass(frozen=True)
class Function:
    """A command that is a typed function, named `module:function`, returning the exit code (imported only when it
    runs, so a command pays only for its own imports)."""

    target: str
    help: str  # one line, in the list of commands

    def load(self) -> Callable[..., int]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Module:
    """A command whose module parses its own arguments, `main(argv) -> exit code`: LightningCLI's fit, validate
    and test."""

    name: str
    help: str


@dataclass(frozen=True)
class Group:
    """A command made of subcommands (`ftscale law fit ...`); `epilog` ends its `--help`."""

    help: str
    commands: dict[str, Function | Module | Group]
    epilog: str = ""

    def usage(self, prog: str) -> str:
        lines = [f"usage: {prog} <command> [options]", "", self.help, "", "commands:"]
        width = max(map(len, self.commands))
        lines += [f"  {name:{width}s}  {command.help}" for name, command in self.commands.items()]
        lines += ["", f"Run `{prog} <command> --help` for the options of a command."]
        return "\n".join(lines) + "\n" + (self.epilog and self.epilog + "\n")


def run(command: Function | Module | Group, prog: str, argv: list[str]) -> int:
    """Run `command`, called `prog`, with its own arguments `argv`; return its exit code. Bad input raises an
    InputError or argparse.ArgumentError whose message is one line naming the option."""
    if isinstance(command, Group):
        if not argv or argv[0] in HELP:
            print(command.usage(prog), end="")
            return 0
        name, rest = argv[0], argv[1:]
        if name not in command.commands:
            raise InputError(
                f"{prog}: no command {name!r}; choose from {', '.join(command.commands)} (see '{prog} --help')"
            )
        return run(command.commands[name], f"{prog} {name}", rest)
    if isinstance(command, Module):
        return importlib.import_module(command.name).main(argv)
    function = command.load()
    parser = function_parser(function, prog)
    try:
        options = parser.parse_args(argv)
    except SystemExit as stop:  # --help, printed
        return 0 if stop.code is None else int(stop.code)
    return function(**options.as_dict())


class HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help (each option's type and default), with the docstring's paragraphs kept as written."""


class Parser(ArgumentParser):
    """jsonargparse's parser whose errors are one line naming the option as typed (`--held-out`, not the key
    `held_out`), then where the help is; raised as argparse.ArgumentError, which `ftscale` prints as `error: ...`."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        see = f"(see '{self.prog} --help')"
        if message.endswith(see):  # jsonargparse hands argparse's own errors to error() once more
            super().error(message, ex)
        names = {action.dest: (action.option_strings or [action.dest])[0] for action in self._actions}
        # jsonargparse's `Parser key "held_out" element 2:\n  Not of type Positive: ...` as argparse says it
        key = r'Parser key "([^"]+)"(?: element \d+)?:\s*(?:Not of type \w+: )?'
        message = re.sub(key, lambda found: f"argument {names.get(found[1], found[1])}: ", message)
        required = re.match(r"the following arguments are required: (.*)", message)
        if required:
            missing = ", ".join(names.get(dest, dest) for dest in required[1].split(", "))
            message = f"missing {missing}"
        super().error(f"{' '.join(message.split())} {see}", ex)


def function_parser(function: Callable[..., Any], prog: str) -> Parser:
    """The parser of a command that is `function`: its parameters as arguments, its docstring as help."""
    doc = docstring_parser.parse(function.__doc__ or "")
    description = "\n\n".join(text for text in (doc.short_description, doc.long_description) if text)
    parser = Parser(prog=prog, description=description, formatter_class=HelpFormatter, exit_on_error=False)
    helps = {param.arg_name: param.description for param in doc.params}
    hints = typing.get_type_hints(function, include_extras=True)
    for name, param in inspect.signature(function).parameters.items():
        add_parameter(parser, param, hints.get(name, str), helps.get(name))
    return parser


def add_parameter(parser: Parser, param: inspect.Parameter, hint: Any, doc: str | None) -> None:
    """Add `param` to `parser` by the rules in this module's docstring."""
    hint, shared = _unwrap(hint)
    option = param.kind is inspect.Parameter.KEYWORD_ONLY
    kwargs: dict[str, Any] = {"help": doc or shared}
    has_default = param.default is not inspect.Parameter.empty
    if has_default:
        kwargs["default"] = param.default
    elif option:
        kwargs["required"] = True
    if typing.get_origin(hint) is list:
        (hint,) = typing.get_args(hint)
        if option:
            kwargs |= {"nargs": "+", "action": "extend"}  # several values, and repeatable
            if has_default and param.default:  # argparse would extend such a default rather than replace it
                raise TypeError(f"{param.name}: a list option's default must be None or empty")
        else:
            kwargs["nargs"] = "*" if has_default else "+"
    elif not option and has_default:
        kwargs["nargs"] = "?"
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(hint) is Literal:
        kwargs["choices"] = typing.get_args(hint)
    else:
        kwargs["type"] = hint
    parser.add_argument(f"--{param.name.replace('_', '-')}" if option else param.name, **kwargs)


def _unwrap(hint: Any) -> tuple[Any, str | None]:
    """The type an argument parses (without `Annotated` or `| None`: None is only ever the default) and the help
    its `Help` carries."""
    shared = help_of(hint)
    if typing.get_origin(hint) is Annotated:
        hint = hint.__origin__
    if typing.get_origin(hint) in (Union, types.UnionType):
        kept = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = kept[0] if len(kept) == 1 else Union[tuple(kept)]  # noqa: UP007 (a runtime-built union)
    return hint, shared
