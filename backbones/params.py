"""Parameter counts of a backbone from its config alone: the model is built on the meta device, nothing is loaded."""

from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from ftscale.backbones.loading import is_local_path, locate
from ftscale.errors import InputError, MissingFileError


@dataclass(frozen=True)
class ParameterCounts:
    """How many parameters a causal LM has, counted once each (tied weights once).

    `non_embedding` leaves out the token and position embeddings and the output projection (tied or not), as
    Kaplan et al. and Pythia's model cards count N; it is the X of the model-size axis.
    """

    non_embedding: int
    total: int
    per_token: int  # parameters each token multiplies through: all but the embedding lookups (for FLOPs)
    # The config counted: a method counts what it trains on it (`FinetuneModule.count_trainable_parameters`).
    config: PretrainedConfig = field(compare=False, repr=False)


def parameter_counts(backbone: str | PretrainedConfig, revision: str | None = None) -> ParameterCounts:
    """Counts of a hub id (at `revision`), a local model directory or a config; only config.json is read."""
    config = backbone if isinstance(backbone, PretrainedConfig) else backbone_config(backbone, revision)
    try:
        model = meta_backbone(config)
    except ValueError as err:  # a model type this transformers does not know
        raise InputError(f"{backbone!r}: not a causal LM transformers can build ({err})") from None
    return _counts(model)


def meta_backbone(config: PretrainedConfig) -> PreTrainedModel:
    """The causal LM of `config` on the meta device: shapes only, so a 7B model costs no memory and no time."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def backbone_config(name_or_path: str, revision: str | None = None) -> PretrainedConfig:
    """The config of a hub id (at `revision`, from the hub or its cache) or local directory, or a clear error."""
    if revision is not None and is_local_path(name_or_path):
        raise InputError(f"{name_or_path!r} is a local directory: it has no revision {revision!r}")
    location = locate(name_or_path)  # a local directory without config.json fails here, naming it
    try:
        return AutoConfig.from_pretrained(location, revision=revision)
    except OSError as err:
        reason = str(err).splitlines()[0]
        if revision is not None and _has_config(name_or_path):
            raise InputError(
                f"{name_or_path!r} has no revision {revision!r} on the Hugging Face hub or in its cache ({reason})"
            ) from None
        raise MissingFileError(
            f"{name_or_path!r}: not a local model directory, and not found on the Hugging Face hub or in its cache "
            f"(offline runs, HF_HUB_OFFLINE=1, need it downloaded first) ({reason})"
        ) from None


def _has_config(name_or_path: str) -> bool:
    """Whether the model's default revision is reachable: tells a missing revision from a missing model."""
    try:
        AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return False
    return True


def _counts(model: PreTrainedModel) -> ParameterCounts:
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    output = model.get_output_embeddings()
    embedding_ids = {id(p) for m in [*embeddings, output] if m is not None for p in m.parameters()}
    unique = {id(p): p for p in model.parameters()}  # tied weights once
    output_params = sum(p.numel() for p in output.parameters()) if output is not None else 0
    non_embedding = sum(p.numel() for i, p in unique.items() if i not in embedding_ids)
    return ParameterCounts(
        non_embedding=non_embedding,
        total=sum(p.numel() for p in unique.values()),
        per_token=non_embedding + output_params,
        config=model.config,
    )
