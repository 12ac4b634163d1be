"""Checks shared by the parts of a sweep spec: one-line errors that name the field and what would be valid."""

import importlib
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ftscale.configs import config_path
from ftscale.errors import InputError

if TYPE_CHECKING:
    from ftscale.sweeps.spec.schema import SizeRange


def check(ok: Any, field: str, expected: str) -> None:
    """Raise `InputError("<field>: expected <expected>")` unless `ok`."""
    if not ok:
        raise InputError(f"{field}: expected {expected}")


def is_int(value: Any) -> bool:
    """An integer that is not a bool (YAML's `true` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a ValueError naming the file (and the line) when it is not YAML text."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a YAML file (byte 0x{error.object[error.start]:02x} at offset {error.start} "
                         "is not UTF-8 text)") from None  # fmt: skip
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None


def yaml_file(value: Any, field: str) -> dict[str, Any]:
    """The mapping in the config file that `field` names (a path, or a `configs/...` path of the installed copy)."""
    check(isinstance(value, str) and config_path(value).is_file(), field, f"an existing file, got {value!r}")
    content = read_yaml(config_path(value))
    check(isinstance(content, dict), field, f"a YAML mapping, but {value} is not one")
    return content


def import_class(class_path: str, field: str) -> type:
    """The class at `class_path` (my_pkg.module.Class); an error naming `field` when it cannot be imported."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"{field}: class_path {class_path!r} cannot be imported") from None


def config_class(path: Any, field: str, base: type, what: str) -> tuple[dict[str, Any], type]:
    """The config file `field` names and the class its `class_path` imports, which must be a `base`; `what` names
    such a config in errors ("a method config")."""
    config = yaml_file(path, field)
    check(isinstance(config.get("class_path"), str), field, f"{what} with a class_path")
    cls = import_class(config["class_path"], field)
    check(
        isinstance(cls, type) and issubclass(cls, base),
        field,
        f"{what} whose class_path is a {base.__name__}, got {config['class_path']!r}",
    )
    return config, cls


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The init arguments of a class, following `**kwargs` up to its bases as LightningCLI does."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        signature = inspect.signature(klass.__init__).parameters.values()
        named = [p for p in signature if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
        found |= {p.name: p for p in named if p.name not in found}
        if not any(p.kind == p.VAR_KEYWORD for p in signature):
            break
    return found


def check_options(field: str, options: Iterable[Any], groups: dict[str, type | None], prefix: str = "") -> None:
    """Refuse `model.*`, `data.*` and `trainer.*` options (the dotted keys of `options`, after `prefix`) that are no
    argument of that group's class."""
    keys = list(options)
    check(all(isinstance(k, str) for k in keys), field, f"a mapping of dotted option -> value, got keys {keys}")
    for key in (prefix + k for k in keys):
        group, _, rest = key.partition(".")
        cls = groups.get(group)
        arg = rest.removeprefix("init_args.").partition(".")[0]
        if cls is not None and arg not in parameters(cls):
            raise InputError(f"{field}: {key!r} is not an argument of {cls.__module__}.{cls.__qualname__}")


def finetuning_sizes(sizes: "list[int] | SizeRange", field: str) -> list[int]:
    """A `train_sizes` field (a list, or a log-spaced {min, max, num} range) as sorted distinct sizes."""
    from ftscale.datamodules.subsets import log_spaced_sizes  # loads torch: see sweep_spec._resolve

    if not isinstance(sizes, list):
        try:
            return log_spaced_sizes(sizes.min, sizes.max, sizes.num)
        except ValueError as error:
            raise InputError(f"{field}: {error}") from None
    check(sizes, field, "{min, max, num} or a non-empty list of positive integers, got []")
    duplicates = sorted({v for v in sizes if sizes.count(v) > 1})
    check(not duplicates, field, f"distinct sizes (each would be the same points twice), got duplicates {duplicates}")
    return sorted(sizes)
