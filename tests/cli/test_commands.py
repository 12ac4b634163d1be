"""Commands as typed functions (`cli/commands.py`): how a signature becomes a command line, the table's groups, and
one-line errors naming the option as typed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import pytest

from ftscale.cli.commands import Function, Group, function_parser, run
from ftscale.cli.options import Coverage, StoreURL, help_of
from ftscale.errors import InputError

CALLS: list[dict] = []


def toy(
    path: Path,
    names: list[str],
    *,
    count: int,
    level: Coverage = 0.95,
    held_out: list[str] | None = None,
    kind: Literal["a", "b"] = "a",
    flag: bool = False,
    store: StoreURL = None,
) -> int:
    """A command for these tests: records its arguments, exits with 7.

    Args:
        path: a file
        names: one or more names
        count: how many
        level: a coverage
        held_out: rules
        kind: a or b
        flag: a switch
    """
    CALLS.append(locals())
    return 7


TOY = Function(f"{__name__}:toy", "a command for these tests")


def parse(*argv: str) -> dict:
    return function_parser(toy, "toy").parse_args(list(argv)).as_dict()


def test_positional_parameters_are_arguments_and_keyword_only_ones_dashed_options_with_defaults():
    args = parse("data.csv", "a", "b", "--count", "3")
    assert args == {
        "path": Path("data.csv"),
        "names": ["a", "b"],
        "count": 3,
        "level": 0.95,
        "held_out": None,
        "kind": "a",
        "flag": False,
        "store": None,
    }


def test_a_list_option_takes_several_values_and_repeats():
    assert parse("p", "a", "--count", "1", "--held-out", "x=max", "df=max", "--held-out", "row=1")["held_out"] == [
        "x=max",
        "df=max",
        "row=1",
    ]


def test_a_bool_is_a_flag_with_a_no_twin_and_a_literal_takes_its_values():
    assert parse("p", "a", "--count", "1", "--flag")["flag"] is True
    assert parse("p", "a", "--count", "1", "--flag", "--no-flag")["flag"] is False
    assert parse("p", "a", "--count", "1", "--kind", "b")["kind"] == "b"


def test_help_comes_from_the_docstring_else_from_the_shared_option():
    helps = {action.dest: action.help for action in function_parser(toy, "toy")._actions}
    assert helps["count"] == "how many" and helps["path"] == "a file"
    assert helps["store"] == help_of(StoreURL) and "postgresql://" in helps["store"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["p", "a"], "missing --count (see 'toy --help')"),
        (["--count", "1"], "missing path, names (see 'toy --help')"),
        (
            ["p", "a", "--count", "many"],
            "argument --count: Expected a <class 'int'>. Got value: many (see 'toy --help')",
        ),
        (["p", "a", "--count", "1", "--level", "2"], "argument --level: '2' must be a coverage in (0, 1), e.g. 0.95"),
        (["p", "a", "--count", "1", "--kind", "c"], "argument --kind: invalid choice: 'c' (choose from 'a', 'b')"),
        (["p", "a", "--count", "1", "--held_out", "x=max"], "unrecognized arguments: --held_out x=max"),
    ],
)
def test_a_parse_error_is_one_line_naming_the_option_as_typed(argv, message):
    with pytest.raises(argparse.ArgumentError) as error:
        parse(*argv)
    assert "\n" not in str(error.value) and str(error.value).startswith(message), str(error.value)


def test_run_calls_the_function_with_the_parsed_values_and_returns_its_exit_code():
    CALLS.clear()
    group = Group("tests", {"toy": TOY})
    assert run(group, "tests", ["toy", "p", "a", "--count", "2", "--store", "sqlite:///x.sqlite"]) == 7
    (call,) = CALLS
    assert call["path"] == Path("p") and call["count"] == 2 and call["store"] == "sqlite:///x.sqlite"


def test_a_group_lists_its_commands_and_refuses_an_unknown_one(capsys):
    group = Group("tests", {"toy": TOY})
    assert run(group, "tests", []) == 0 and "\n  toy  a command for these tests\n" in capsys.readouterr().out
    with pytest.raises(InputError, match=r"^tests: no command 'tyo'; choose from toy \(see 'tests --help'\)$"):
        run(group, "tests", ["tyo"])


def test_a_list_option_with_a_default_is_refused_when_the_command_is_built():
    def listed(*, values: list[int] = [1]) -> int:  # noqa: B006 (the mistake under test)
        """Args:
        values: numbers
        """
        return 0

    with pytest.raises(TypeError, match="values: a list option's default must be None or empty"):
        function_parser(listed, "listed")
