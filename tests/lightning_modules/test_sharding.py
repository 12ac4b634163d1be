"""FSDP2: what is sharded, bf16 compute, activation checkpointing, and `ftscale fit` on 2 CPU processes."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from peft import PeftModel
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from transformers import AutoModelForCausalLM

from ftscale.cli.lightning import FtscaleCLI
from ftscale.cli.main import main
from ftscale.lightning_modules import FullFinetune, LoRA, PromptTuning, load_method
from ftscale.lightning_modules.sharding import data_parallel_mesh, decoder_layers, shard_model
from tests.conftest import ROOT
from tests.helpers import make_batch

METHODS = {
    "fmt": (FullFinetune, {}),
    "lora": (LoRA, {"rank": 4}),
    "prompt_tuning": (PromptTuning, {"num_virtual_tokens": 5}),
}


def build(method: str, backbone: Path, **options):
    cls, kwargs = METHODS[method]
    module = cls(backbone=str(backbone), **kwargs, **options)
    module.configure_model()
    return module


@pytest.fixture
def mesh(tmp_path):
    """ModelParallelStrategy's 2-D mesh on a one-process gloo group: FSDP2 runs, every shard is the whole tensor."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield init_device_mesh("cpu", (1, 1), mesh_dim_names=("data_parallel", "tensor_parallel"))
    dist.destroy_process_group()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_decoder_layer_then_the_root_is_sharded_and_the_loss_is_unchanged(method, mesh, make_backbone):
    torch.manual_seed(0)
    module = build(method, make_backbone("xs"))
    batch = make_batch(vocab=module.model.config.vocab_size)
    reference = module.token_nll(batch)[0]

    units = shard_model(module.model, data_parallel_mesh(mesh))
    layers = decoder_layers(module.model)
    assert len(layers) == module.model.config.num_hidden_layers
    assert units == [*layers, module.model]
    assert all(isinstance(unit, FSDPModule) for unit in units)
    # FSDP2 shards per parameter: frozen and trained tensors alike, LoRA's inside their decoder layer's unit.
    assert all(isinstance(p, DTensor) for p in module.parameters())
    nll = module.token_nll(batch)[0]
    torch.testing.assert_close(nll, reference)
    nll.backward()
    assert all(p.grad is not None for p in module.parameters() if p.requires_grad)


def test_bf16_mixed_computes_in_bf16(mesh, make_backbone):
    module = build("lora", make_backbone("xs"))
    shard_model(module.model, data_parallel_mesh(mesh), precision="bf16-mixed")
    batch = make_batch(vocab=module.model.config.vocab_size)
    logits = module.model(input_ids=batch["input_ids"]).logits
    assert logits.dtype == torch.bfloat16
    # The master weights the optimizer steps stay fp32.
    assert all(p.dtype == torch.float32 for p in module.parameters() if p.requires_grad)


def test_tensor_parallel_meshes_are_refused():
    class TwoWayTensorParallel(dict):
        pass

    size_two = type("Dim", (), {"size": lambda self: 2})()
    with pytest.raises(ValueError, match="tensor_parallel_size: 1"):
        data_parallel_mesh(TwoWayTensorParallel(tensor_parallel=size_two))


@pytest.mark.parametrize("method", ["fmt", "lora"])
def test_activation_checkpointing_recomputes_layers_with_the_same_loss_and_gradients(method, make_backbone):
    batch = make_batch()
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        module = build(method, make_backbone("xs"), activation_checkpointing=checkpointing).train()
        calls: list[int] = []
        # The layer's own hooks (FSDP2's) stay outside the checkpoint; what runs inside is recomputed.
        decoder_layers(module.model)[0].mlp.register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        nll, _ = module.token_nll(batch)
        nll.backward()
        grads = {n: p.grad for n, p in module.named_parameters() if p.requires_grad}
        results.append((nll.detach(), grads, len(calls)))
    (plain_nll, plain_grads, plain_calls), (ckpt_nll, ckpt_grads, ckpt_calls) = results
    assert (plain_calls, ckpt_calls) == (1, 2)  # the checkpointed layer runs again in the backward pass
    torch.testing.assert_close(ckpt_nll, plain_nll)
    torch.testing.assert_close(ckpt_grads, plain_grads)


# --- `ftscale fit` with configs/trainer/fsdp.yaml on two CPU processes (gloo) -------------------------------------


LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "RANK", "WORLD_SIZE")


def fit_args(backbone: Path, method: str, out: Path, steps: int, batch_size: int) -> list[str]:
    # One global batch of 4 examples: each step sees the same examples on one process (4) and on two (2 + 2).
    # A constant learning rate keeps a resumed run on the schedule of an uninterrupted one.
    return [
        "--model", f"configs/methods/{method}.yaml", "--model.backbone", str(backbone),
        "--model.lr_schedule", "constant", "--model.warmup_ratio", "0",
        "--data", "ftscale.datamodules.SyntheticTranslation", "--data.pool_size", "64", "--data.train_size", "4",
        "--data.val_size", "8", "--data.test_size", "8", "--data.batch_size", str(batch_size),
        "--trainer.max_steps", str(steps), "--trainer.val_check_interval", "3",
        "--trainer.check_val_every_n_epoch", "null",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", str(out),
        "--trainer.default_root_dir", str(out), "--trainer.enable_progress_bar", "false",
        "--checkpoint.dirpath", str(out / "checkpoints"), "--generation.max_examples", "0",
    ]  # fmt: skip


def fit_single(backbone: Path, method: str, out: Path, steps: int = 6) -> float:
    cli = FtscaleCLI(["fit", *fit_args(backbone, method, out, steps, batch_size=4)])
    return float(cli.trainer.callback_metrics["test/loss"])


def fit_fsdp(backbone: Path, method: str, out: Path, steps: int = 6, *extra: str) -> float:
    """`ftscale fit` under FSDP on 2 CPU processes (Lightning launches the second); return its test/loss."""
    fsdp = ["--trainer", "configs/trainer/fsdp.yaml", "--trainer.accelerator", "cpu", "--trainer.precision", "32-true"]
    args = [*fsdp, *fit_args(backbone, method, out, steps, batch_size=2), *extra]
    run = subprocess.run(
        [sys.executable, "-m", "ftscale.cli", "fit", *args],
        cwd=ROOT,
        # A rendezvous address or a rank left in this process's environment by an earlier test would be taken as
        # given (with LOCAL_RANK set, Lightning launches no second process).
        env={**{k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with (out / "lightning_logs" / "version_0" / "metrics.csv").open() as f:
        return float([row for row in csv.DictReader(f) if row["test/loss"]][-1]["test/loss"])


@pytest.mark.slow
def test_fmt_under_fsdp_matches_one_process_and_resumes(in_repo, make_backbone, tmp_path):
    backbone = make_backbone("xs")
    single = fit_single(backbone, "fmt", tmp_path / "single")
    fit_fsdp(backbone, "fmt", tmp_path / "first-half", 3)
    checkpoint = tmp_path / "first-half" / "checkpoints" / "best.ckpt"
    assert torch.load(checkpoint, weights_only=False)["global_step"] == 3
    resumed = fit_fsdp(backbone, "fmt", tmp_path / "resumed", 6, "--ckpt_path", str(checkpoint))
    # Weights, AdamW moments and the step count all come back: 3 + 3 steps land where 6 uninterrupted ones do.
    assert resumed == pytest.approx(single, rel=1e-4)
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "best.ckpt", weights_only=False)["global_step"] == 6


@pytest.mark.slow
def test_lora_under_fsdp_matches_one_process_and_exports_a_peft_adapter(in_repo, make_backbone, tmp_path):
    backbone = make_backbone("xs")
    single = fit_single(backbone, "lora", tmp_path / "single")
    sharded = fit_fsdp(backbone, "lora", tmp_path / "fsdp")
    assert sharded == pytest.approx(single, rel=1e-4)

    checkpoint = tmp_path / "fsdp" / "checkpoints" / "best.ckpt"
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    assert saved and all("lora_" in name for name in saved)  # gathered on rank 0, adapter only
    assert main(["export", str(checkpoint), str(tmp_path / "adapter")]) == 0
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(backbone), tmp_path / "adapter").eval()
    reference = load_method(checkpoint).eval()
    batch = make_batch(vocab=reference.model.config.vocab_size)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        logits = loaded(**inputs).logits
        torch.testing.assert_close(logits, reference.model(**inputs).logits)
        untrained = AutoModelForCausalLM.from_pretrained(backbone)(**inputs).logits
    assert not torch.allclose(logits, untrained)  # the adapter carries the trained update


def test_a_sharded_checkpoint_folder_is_named_with_how_to_consolidate_it(tmp_path):
    with pytest.raises(ValueError, match="consolidate_checkpoint"):
        load_method(tmp_path)


def test_sharded_checkpoints_keep_every_tensor_and_single_files_only_the_trained(mesh, make_backbone):
    module = build("lora", make_backbone("xs"))
    shard_model(module.model, data_parallel_mesh(mesh))
    sharded = {"state_dict": module.state_dict()}  # DTensors, as save_distributed_checkpoint=True hands them over
    module.on_save_checkpoint(sharded)
    assert set(sharded["state_dict"]) == set(module.state_dict())  # loading a folder asks for every tensor
    gathered = {"state_dict": {name: t.full_tensor() for name, t in module.state_dict().items()}}
    module.on_save_checkpoint(gathered)
    assert set(gathered["state_dict"]) == module.trained_tensor_names()
    assert all("lora_" in name for name in gathered["state_dict"])
