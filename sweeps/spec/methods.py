"""The methods of a sweep: each config's class (a FinetuneModule), the spec's overrides of it (arguments it
accepts), its own finetuning sizes, and its PET-size axis (the argument its class declares)."""

from dataclasses import replace
from typing import Any

from ftscale.sweeps.points import Method
from ftscale.sweeps.spec.checks import (
    check,
    check_options,
    config_class,
    finetuning_sizes,
    is_int,
    parameters,
)
from ftscale.sweeps.spec.schema import MethodEntry


def resolve_methods(
    entries: dict[str, MethodEntry], pet_axis: dict[str, Any], groups: dict[str, type | None]
) -> tuple[Method, ...]:
    """The spec's methods, each with its class and, when on the `pet_size` axis (`pet_axis`), its sizes; `groups`
    are the classes whose arguments `data.*` and `trainer.*` overrides must be."""
    from ftscale.lightning_modules import FinetuneModule  # see sweep_spec._resolve

    check(entries, "methods", "a mapping of method name -> {config, overrides, train_sizes}, got {}")
    unknown = sorted(set(pet_axis) - set(entries))
    check(not unknown, "axes.pet_size", f"methods listed under methods ({sorted(entries)}), got {unknown}")
    methods = []
    for name, entry in entries.items():
        field = f"methods.{name}"
        config, method_class = config_class(entry.config, f"{field}.config", FinetuneModule, "a method config")
        overrides = dict(entry.overrides)
        check_options(f"{field}.overrides", overrides, groups | {"model": method_class})
        sizes = finetuning_sizes(entry.train_sizes, f"{field}.train_sizes") if entry.train_sizes is not None else []
        method = Method(
            name, entry.config, overrides, method_class, config.get("init_args") or {}, train_sizes=tuple(sizes)
        )
        arg = method_class.pet_size_argument
        check(
            arg is None or arg in parameters(method_class),
            f"{field}.config",
            f"a class whose pet_size_argument is one of its arguments, got {arg!r} of {config['class_path']}",
        )
        if name in pet_axis:
            method = _with_pet_axis(method, config, pet_axis[name], f"axes.pet_size.{name}")
        elif arg is not None:  # off the axis the size is still a factor of its points, and their cost
            default = (config.get("init_args") or {}).get(arg, parameters(method_class)[arg].default)
            method = replace(method, pet_default=overrides.get(f"model.{arg}", default))
        methods.append(method)
    return tuple(methods)


def _with_pet_axis(method: Method, config: dict, axis: Any, field: str) -> Method:
    arg = method.method_class.pet_size_argument
    check(
        arg is not None,
        field,
        f"no entry: {config['class_path']} has no PET size (its pet_size_argument is None); "
        "put the method on the other axes only",
    )
    key = f"model.{arg}"
    if isinstance(axis, list):  # the sizes of the argument the class declares
        axis = {key: axis}
    check(
        isinstance(axis, dict) and len(axis) == 1,
        field,
        f"a list of sizes or one {{{key}: [sizes]}} entry, e.g. {{{key}: [1, 2]}}",
    )
    ((given, values),) = axis.items()
    check(given == key, field, f"{key} (the PET-size argument of {config['class_path']}), got {given!r}")
    arguments = parameters(method.method_class)
    check(
        isinstance(values, list) and values and all(is_int(v) and v > 0 for v in values),
        field,
        f"a non-empty list of positive integers, got {values!r}",
    )
    check(len(set(values)) == len(values), field, f"distinct sizes, got {values!r}")
    # The size off this axis: the spec's override, else the method config's, else the class default.
    overrides = dict(method.overrides)
    default = overrides.pop(key, (config.get("init_args") or {}).get(arg, arguments[arg].default))
    return replace(method, overrides=overrides, pet_key=key, pet_sizes=tuple(values), pet_default=default)
