"""The sweep spec's schema: the YAML file's fields as dataclasses, read by jsonargparse (the CLI's machinery), so
that wrong types, unknown and missing fields fail as one line naming the file, the field and what would be valid.
What types cannot say (axes that fit together, ladder budgets, a method's options) is checked by the module of that
concern (models.py, methods.py, recipe.py)."""

import copy
import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from jsonargparse import ArgumentParser
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from ftscale.errors import InputError

EXPECTED = "expected"  # a field's metadata key: what a valid value is, when its type alone says too little


def _expected(text: str) -> dict[str, str]:
    return {EXPECTED: text}


@dataclass
class SizeRange:
    """About `num` log-spaced finetuning sizes from `min` to `max`."""

    min: int
    max: int
    num: int


@dataclass
class MethodEntry:
    """A method of the sweep: its config file, the spec's `model.*`/`data.*`/`trainer.*` overrides, its own sizes."""

    config: str = field(metadata=_expected("a method config file"))
    overrides: dict[str, Any] = field(default_factory=dict, metadata=_expected("a mapping of dotted option -> value"))
    train_sizes: list[PositiveInt] | SizeRange | None = None


@dataclass
class AxesFields:
    """The factors varied one at a time; the others stay at the default model, checkpoint and PET size."""

    model_size: list[str] | None = field(
        default=None, metadata=_expected("a list of ladder sizes, hub ids (org/name) or local model directories")
    )
    pretrain_tokens: list[int] | dict[str, Any] | None = field(
        default=None,
        metadata=_expected(
            "a list of ladder token budgets or {tokens_per_parameter: [ratios]}, or a mapping of hub revision or "
            "local checkpoint directory -> pretraining tokens"
        ),
    )
    pet_size: dict[str, Any] | None = field(
        default=None,
        metadata=_expected("a mapping of PET method -> [sizes] (or {model.<its PET-size argument>: [sizes]})"),
    )


AXES = tuple(f.name for f in dataclasses.fields(AxesFields))


@dataclass
class EarlyStoppingFields:
    """Early stopping on val/loss."""

    patience: PositiveInt = field(metadata=_expected("a positive number of validations"))
    min_delta: NonNegativeFloat = 0.0


@dataclass
class RecipeFields:
    """How long each point trains: epochs of its subset clamped to [min_steps, max_steps], or max_steps alone."""

    epochs: PositiveInt | PositiveFloat | None = field(
        default=None, metadata=_expected("a positive number of passes over each point's training subset")
    )
    min_steps: PositiveInt | None = None
    max_steps: PositiveInt | None = None
    val_check_interval: PositiveInt | None = None
    early_stopping: EarlyStoppingFields | None = None


@dataclass
class EvaluationFields:
    """A zero- and few-shot evaluation (`transfer`, `retention`): a datamodule config and the shots per prompt."""

    data: str = field(metadata=_expected("a datamodule config file"))
    shots: list[NonNegativeInt] = field(
        default_factory=lambda: [0],
        metadata=_expected("a list of distinct non-negative integers (examples in each prompt)"),
    )


@dataclass
class SpecFile:
    """A sweep spec file as written (see configs/sweeps/demo.yaml); `sweep_spec.load_spec` resolves it."""

    name: str
    base_config: str = field(metadata=_expected("a config file of `ftscale fit`"))
    methods: dict[str, MethodEntry] = field(
        metadata=_expected("a mapping of method name -> {config, overrides, train_sizes}")
    )
    axes: AxesFields
    train_sizes: list[PositiveInt] | SizeRange
    ladder: str | None = field(default=None, metadata=_expected("a pretraining config file"))
    task: str | None = field(default=None, metadata=_expected("a datamodule config file"))
    default_model: str | None = None
    default_size: str | None = None  # default_model's older name
    default_revision: str | None = None
    default_tokens: int | dict[str, Any] | None = field(
        default=None, metadata=_expected("a pretraining token count or {tokens_per_parameter: r}")
    )
    seeds: list[int] = field(default_factory=lambda: [0])
    held_out: list[str] | dict[str, list[str]] = field(
        default_factory=list,
        metadata=_expected("a list of rules KEY=VALUE such as x=max or df=max, or a mapping from axes to such lists"),
    )
    data: dict[str, Any] = field(default_factory=dict, metadata=_expected("a mapping of dotted option -> value"))
    trainer: dict[str, Any] = field(default_factory=dict, metadata=_expected("a mapping of dotted option -> value"))
    recipe: RecipeFields | None = None
    transfer: EvaluationFields | None = None
    retention: EvaluationFields | None = None
    laws: Any = None  # the analysis's options, checked by analysis.options.law_options


FIELDS = tuple(f.name for f in dataclasses.fields(SpecFile))


def read_spec_file(raw: Any, source: Path) -> SpecFile:
    """A spec file's YAML content checked against the schema; InputError naming `source` and the field."""
    return parse_fields(SpecFile, raw, source, "")


def parse_fields(cls: type, raw: Any, source: Path, where: str) -> Any:
    """`raw` (the YAML mapping at `where` in `source`) as dataclass `cls`, every field checked by jsonargparse."""
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(raw, dict):
        what = f"{where}: expected a mapping" if where else "expected a sweep spec, a YAML mapping"
        raise InputError(f"{source}: {what} of {', '.join(names)}, got {raw!r}")
    for f in dataclasses.fields(cls):  # jsonargparse reads a nested block as a group: a non-mapping fails obscurely
        block = _hints(cls)[f.name]
        if dataclasses.is_dataclass(block) and raw.get(f.name) is not None and not isinstance(raw[f.name], dict):
            parse_fields(block, raw[f.name], source, f"{where}.{f.name}" if where else f.name)
    parser = _parser(cls)
    try:  # on a copy: jsonargparse replaces nested mappings of the object it parses by namespaces
        parsed = parser.instantiate(parser.parse_object(copy.deepcopy(raw)))
    except Exception as error:  # jsonargparse's ArgumentError (a multi-line report, for unions one per member)
        raise InputError(_one_line(str(error), cls, raw, source, where)) from None
    return _plain(cls(**{name: getattr(parsed, name) for name in names}))


def _plain(value: Any) -> Any:
    """jsonargparse's restricted numbers (PositiveInt, ...) as the plain int or float they are: YAML writers and
    stores know only those."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value)(**{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
    return value


@functools.cache
def _parser(cls: type) -> ArgumentParser:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls)
    return parser


def _one_line(report: str, cls: type, raw: dict, source: Path, where: str) -> str:
    """jsonargparse's report as one line: the field it names (following nested blocks), and what would be valid."""
    group = re.search(r"Group '([^']+)' does not accept option", report)
    named = [group[1]] if group else re.findall(r'Parser key "([^"]+)"', report)
    node: type | None = cls  # the block (dataclass) the path has reached
    value: Any = raw
    path = [where] if where else []
    leaf: tuple[type, dataclasses.Field] | None = None  # the last field passed and the block it belongs to
    for key in (k for name in named for k in name.split(".")):
        fields = {f.name: f for f in dataclasses.fields(node)} if node is not None else {}
        if key not in fields or not isinstance(value, dict):
            break
        hint = _hints(node)[key]
        leaf, value = (node, fields[key]), value.get(key)
        path.append(key)
        entries = _dataclass_of(typing.get_args(hint)[-1]) if typing.get_origin(hint) is dict else None
        if entries is not None and isinstance(value, dict):  # jsonargparse does not say which entry failed
            for name, entry in value.items():
                parse_fields(entries, entry, source, ".".join([*path, str(name)]))
        node = _dataclass_of(hint) if isinstance(value, dict) else None
    field_name = ".".join(path)
    if node is not None and isinstance(value, dict):  # within a block: an unknown or a missing field
        names = [f.name for f in dataclasses.fields(node)]
        unknown = sorted(set(value) - set(names), key=str)
        if unknown:
            prefix = f"{field_name}: " if field_name else ""
            return f"{source}: {prefix}unknown field(s) {unknown}; the fields are {', '.join(names)}"
        for f in dataclasses.fields(node):
            if f.name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                name = f"{field_name}.{f.name}" if field_name else f.name
                return f"{source}: {name}: expected {_describe_field(node, f)} (a required field)"
    if leaf is None:  # nothing to point at: jsonargparse's own first line
        return f"{source}: {field_name or 'spec'}: {report.strip().splitlines()[0]}"
    return f"{source}: {field_name}: expected {_describe_field(*leaf)}, got {value!r}"


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field holds (alone or as a member of a union), else None."""
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    return next((m for m in members if dataclasses.is_dataclass(m)), None)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _describe_field(cls: type, f: dataclasses.Field) -> str:
    return f.metadata.get(EXPECTED) or describe(_hints(cls)[f.name])


# What a value of each simple type is, one and many.
_WORDS = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans"),
    PositiveInt: ("a positive integer", "positive integers"),
    NonNegativeInt: ("a non-negative integer", "non-negative integers"),
    PositiveFloat: ("a positive number", "positive numbers"),
    NonNegativeFloat: ("a non-negative number", "non-negative numbers"),
}


def describe(hint: Any, many: bool = False) -> str:
    """A type in words, for error messages: `list[PositiveInt] | SizeRange` is
    "a list of positive integers or {min, max, num}"."""
    if hint is Any:
        return "values" if many else "any value"
    if hint in _WORDS:
        return _WORDS[hint][many]
    if dataclasses.is_dataclass(hint):
        block = "{" + ", ".join(f.name for f in dataclasses.fields(hint)) + "}"
        return f"mappings {block}" if many else block
    if _is_union(hint):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        return " or ".join(describe(m, many) for m in members)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return "lists" if many else f"a list of {describe(args[0], True)}"
    if origin is dict:
        return "mappings" if many else f"a mapping of {describe(args[0])} -> {describe(args[1], True)}"
    return getattr(hint, "__name__", str(hint))
