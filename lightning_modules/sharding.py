"""FSDP2 sharding of a finetuning model, applied in `configure_model` under Lightning's `ModelParallelStrategy`."""

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers.modeling_layers import GradientCheckpointingLayer

from ftscale.errors import InputError


def data_parallel_mesh(mesh: DeviceMesh) -> DeviceMesh:
    """The data-parallel dimension of ModelParallelStrategy's 2-D mesh; ftscale shards but does not split tensors."""
    if mesh["tensor_parallel"].size() != 1:
        raise InputError(
            f"trainer.strategy.tensor_parallel_size={mesh['tensor_parallel'].size()}: ftscale shards with FSDP2 "
            "only; set tensor_parallel_size: 1 and data_parallel_size to the number of processes (nodes x devices)"
        )
    return mesh["data_parallel"]


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated transformer blocks of a Hugging Face model, also inside a peft wrapper."""
    # Every decoder layer of a recent transformers model is a GradientCheckpointingLayer (Llama, Qwen, Gemma...).
    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


def mixed_precision_policy(precision: str) -> MixedPrecisionPolicy:
    """bf16 compute and all-gathers with fp32 gradient reduction for `bf16-mixed`; fp32 master weights either way."""
    if precision == "bf16-mixed":
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def shard_model(model: nn.Module, mesh: DeviceMesh, precision: str = "32-true") -> list[nn.Module]:
    """`fully_shard` every decoder layer, then the root (embeddings, final norm, head, soft prompt); return the units.

    LoRA's A and B matrices stay in their decoder layer's unit: FSDP2 shards per parameter, so one unit may
    mix frozen and trained tensors, and separate units for such small tensors would only add collectives.
    """
    policy = mixed_precision_policy(precision)
    layers = decoder_layers(model)
    if not layers:
        raise InputError(f"{type(model).__name__} has no decoder layers (GradientCheckpointingLayer) to shard")
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    # The root's parameters are all-gathered for the whole forward anyway: keep them after it, as torchtitan does.
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=False)
    return [*layers, model]
