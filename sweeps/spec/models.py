"""The models of a sweep: the model_size and pretrain_tokens axes and the default model, resolved to backbones
(ladder checkpoints, hub models at revisions, local directories) with their parameter counts."""

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftscale.errors import InputError, MissingFileError
from ftscale.sweeps.points import Backbone
from ftscale.sweeps.spec.checks import check, is_int
from ftscale.sweeps.spec.schema import AxesFields, SpecFile

if TYPE_CHECKING:
    from ftscale.backbones.params import ParameterCounts
    from ftscale.ladder.pretrain import PretrainConfig

TOKENS_PER_PARAMETER = "tokens_per_parameter"  # a ladder checkpoint named by its tokens per parameter
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


class ModelAxes:
    """The model_size and pretrain_tokens axes and the default model, resolved to backbones with parameter counts."""

    def __init__(self, spec: SpecFile, ladder: "PretrainConfig | None", resolve: bool) -> None:
        self.spec = spec
        self.ladder = ladder
        self.resolve = resolve
        self.counts: dict[tuple[str, str | None], ParameterCounts | None] = {}

    def axes(self) -> tuple[tuple[Backbone, ...], tuple[Backbone, ...], Backbone | None]:
        """The model_size axis, the pretrain_tokens axis (at the default model) and the default backbone."""
        spec, axes = self.spec, self.spec.axes
        check(
            spec.default_model is None or spec.default_size is None,
            "default_model",
            "one of default_model and default_size (its older name), not both",
        )
        field = "default_model" if spec.default_model is not None else "default_size"
        given = getattr(spec, field)
        needs_default = axes.pretrain_tokens is not None or axes.pet_size is not None
        check(
            given is not None or not needs_default,
            field,
            "a model (a ladder size, hub id or local directory; default_size is its older name): it is required with "
            "axes.pretrain_tokens or axes.pet_size",
        )
        names = self._names(axes.model_size, "axes.model_size") if axes.model_size is not None else []
        default = self._names([given], field)[0] if given is not None else None
        kinds = {self._kind(n, "") == "ladder" for n in [*names, *([default] if default else [])]}
        check(
            len(kinds) <= 1,
            "axes.model_size",
            f"ladder sizes only or hub ids and local directories only, with {field} of the same kind",
        )
        if kinds == {True}:
            return self._ladder_axes(names, default, axes)
        return self._hub_axes(names, default, axes, field)

    def _ladder_axes(self, names: list[str], default: str | None, axes: AxesFields) -> tuple:
        ladder = self.ladder
        check(
            self.spec.default_revision is None,
            "default_revision",
            "no revision: ladder checkpoints are token budgets",
        )
        tokens = _token_list(axes.pretrain_tokens, ladder, default) if axes.pretrain_tokens is not None else []

        def backbone(size: str, tokens: int | None = None) -> Backbone:
            """`size` at `tokens`, else at default_tokens (a size's own budget on a tokens_per_parameter ladder)."""
            if tokens is None:
                given = self.spec.default_tokens
                field = "default_tokens"
                tokens = ladder.budgets(size)[-1] if given is None else _ladder_budget(given, ladder, size, field)
            return Backbone(size, size, None, tokens, self._counts(size, None, ""), ladder=True)

        return (
            tuple(backbone(size) for size in names),
            tuple(backbone(default, t) for t in tokens),
            backbone(default) if default else None,
        )

    def _hub_axes(self, names: list[str], default: str | None, axes: AxesFields, field: str) -> tuple:
        from ftscale.backbones.checkpoints import checkpoint_tokens
        from ftscale.backbones.loading import is_local_path

        revision = self.spec.default_revision
        if revision is not None:
            check(isinstance(revision, str) and revision, "default_revision", f"a hub revision, got {revision!r}")
            check(
                default is not None and not is_local_path(default),
                "default_revision",
                f"a hub id as {field} (a local directory has no revisions), got {default!r}",
            )
        default_tokens = self.spec.default_tokens
        check(
            default_tokens is None or (is_int(default_tokens) and default_tokens > 0),
            "default_tokens",
            f"the pretraining tokens of the default checkpoints, a positive integer, got {default_tokens!r}",
        )
        field_t = "axes.pretrain_tokens"
        checkpoints = checkpoint_tokens(axes.pretrain_tokens, field_t) if axes.pretrain_tokens is not None else {}
        if default_tokens is None:  # the checkpoint off the pretraining axis, when that axis names it
            default_tokens = checkpoints.get(revision or "main")

        def at_default_revision(model: str, field: str) -> Backbone:
            rev = None if is_local_path(model) else revision
            return Backbone(model, model, rev, default_tokens, self._counts(model, rev, field))

        size_axis = tuple(at_default_revision(name, "axes.model_size") for name in names)
        along = []
        for key, tokens in checkpoints.items():
            if is_local_path(key):  # a checkpoint directory of the default model
                self._names([key], field_t)
                along.append(Backbone(key, default, None, tokens, self._counts(key, None, field_t)))
            else:
                check(
                    not is_local_path(default),
                    field_t,
                    f"local checkpoint directories: {field} {default!r} is a directory, with no revision {key!r}",
                )
                along.append(Backbone(default, default, key, tokens, self._counts(default, key, field_t)))
        return (
            size_axis,
            tuple(along),
            at_default_revision(default, field) if default else None,
        )

    def _names(self, values: Any, field: str) -> list[str]:
        """Model names checked for their kind: ladder sizes, hub ids or local directories (which must hold a model)."""
        sizes = (
            f"ladder sizes of the ladder config ({self.ladder.sizes})"
            if self.ladder
            else "ladder sizes (with a ladder)"
        )
        expected = f"{sizes}, hub ids (org/name) or local model directories"
        check(isinstance(values, list) and values, field, f"a non-empty list of {expected}")
        unknown = [v for v in values if self._kind(v, field) is None]
        check(not unknown, field, f"{expected}, got unknown {unknown}")
        check(len(set(values)) == len(values), field, f"distinct models, got {values}")
        return values

    def _kind(self, value: Any, field: str) -> str | None:
        from ftscale.backbones.loading import is_local_path

        if self.ladder is not None and value in self.ladder.sizes:
            return "ladder"
        if not isinstance(value, str):
            return None
        if is_local_path(value):
            if field and not (Path(value).expanduser() / "config.json").is_file():
                raise MissingFileError(f"{field}: {value!r} is no Hugging Face model directory (no config.json there)")
            return "local"
        return "hub" if HUB_ID.fullmatch(value) else None

    def _counts(self, model: str, revision: str | None, field: str) -> "ParameterCounts | None":
        """Parameter counts, looked up once per model and revision; a missing model or revision fails naming both."""
        from ftscale.backbones.params import parameter_counts
        from ftscale.ladder.shapes import ladder_config

        key = (model, revision)
        if key not in self.counts:
            if self.ladder is not None and model in self.ladder.sizes:
                # Non-embedding counts do not depend on the vocabulary or token ids; the total uses the ladder's.
                self.counts[key] = parameter_counts(ladder_config(model, self.ladder.vocab_size, 1024, 1, 2, 0))
            elif self.resolve or self._kind(model, field) == "local":
                try:
                    self.counts[key] = parameter_counts(model, revision)
                except (ValueError, FileNotFoundError) as err:
                    raise type(err)(f"{field}: {err}") from None
            else:
                self.counts[key] = None
        return self.counts[key]


def read_ladder(path: str | None) -> "PretrainConfig | None":
    """The spec's `ladder` (a pretraining config file, read by the pretraining's own reader), or None without one."""
    from ftscale.ladder.pretrain import load_pretrain_config  # see sweep_spec._resolve

    if path is None:
        return None
    try:
        return load_pretrain_config(path)
    except InputError as error:  # MissingFileError included
        raise type(error)(f"ladder: {error}") from None


def _token_list(values: Any, ladder: "PretrainConfig", size: str) -> list[int]:
    """The pretraining axis of ladder size `size`: token budgets, or {tokens_per_parameter: [ratios]}."""
    field = "axes.pretrain_tokens"
    valid = [0, *ladder.budgets(size)]
    if isinstance(values, dict) and set(values) == {TOKENS_PER_PARAMETER}:
        ratios = values[TOKENS_PER_PARAMETER]
        check(isinstance(ratios, list) and ratios, field, f"a non-empty list of tokens per parameter, got {ratios!r}")
        values = [_ladder_budget({TOKENS_PER_PARAMETER: r}, ladder, size, field) for r in ratios]
    expected = f"token budgets of {size} in the ladder config ({valid}), or {{{TOKENS_PER_PARAMETER}: [ratios]}}"
    check(isinstance(values, list) and values, field, f"a non-empty list of {expected}")
    unknown = [v for v in values if not (is_int(v) and v in valid)]
    check(not unknown, field, f"{expected}, got unknown {unknown}")
    check(len(set(values)) == len(values), field, f"distinct budgets, got {values}")
    return values


def _ladder_budget(value: Any, ladder: "PretrainConfig", size: str, field: str) -> int:
    """One checkpoint of ladder size `size`: a token budget (or 0), or {tokens_per_parameter: r}, which is r times
    its non-embedding parameters rounded up to whole pretraining steps, as the ladder config rounds its budgets."""
    valid = [0, *ladder.budgets(size)]
    ratio = value.get(TOKENS_PER_PARAMETER) if isinstance(value, dict) and len(value) == 1 else None
    if ratio is not None:
        check(
            isinstance(ratio, int | float) and not isinstance(ratio, bool) and ratio > 0,
            field,
            f"{{{TOKENS_PER_PARAMETER}: <a positive number>}}, got {value!r}",
        )
        tokens = ladder.tokens_at(size, ratio)
        check(
            tokens in valid,
            field,
            f"a checkpoint of {size}: {ratio} tokens per parameter is {tokens} tokens, and its budgets are {valid}",
        )
        return tokens
    check(
        is_int(value) and value in valid,
        field,
        f"a token budget of {size} in the ladder config ({valid}) or {{{TOKENS_PER_PARAMETER}: r}}, got {value!r}",
    )
    return value
