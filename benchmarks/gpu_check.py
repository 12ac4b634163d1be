"""One command that checks ftscale's GPU code paths on one CUDA GPU and measures FMT and LoRA throughput.

    python benchmarks/gpu_check.py [--parts attention,fmt,lora,qlora,fsdp] [--size 1b] [--batch 4] [--seq 2048]
                                   [--steps 20] [--warmup 3] [--out gpu_check.json] [--device cuda|cpu]

Parts, each guarded (a failed part prints its error line, its traceback goes to `--out`, and the others run):
- attention: the kernel ftscale chooses (`backbones/attention.py`: flash_attention_2 when flash-attn is installed)
  and its logits against a reference kernel (sdpa; eager when sdpa is the choice) on the same bf16 weights and
  inputs, rows unpadded, right- and left-padded; passes when the choice is right and the largest difference on real
  positions is under `LOGIT_TOLERANCE` of the largest logit.
- fmt, lora: `FullFinetune` and `LoRA` (rank 4, all-linear) in a Lightning Trainer at `bf16-mixed` (fp32 master
  weights), random-token batches with the first quarter of every row unlabelled; tokens/s and MFU over the timed
  steps, peak GPU memory. MFU: FLOPs from `callbacks/throughput.py`'s `flops_per_token` (6 x trainable + 4 x frozen
  matmul parameters per token, the cost model of `sweeps/cost.py`, plus attention's 12 x layers x width x length,
  PaLM's convention, which counts causal attention in full) over the device's dense bf16 peak as `TrainingThroughput`
  reads it (Lightning's table; 989 TFLOP/s for an H100 SXM). Goal: FMT at least 45% MFU on `--size 1b`.
- qlora: `LoRA(quantization="nf4")`: the base loaded 4-bit through bitsandbytes, forward and backward on the GPU.
- fsdp: `FullFinetune` under Lightning's `ModelParallelStrategy` as `configs/trainer/fsdp.yaml` sets it, on one
  device (a one-process group: every `fully_shard` unit is built and stepped, no collective crosses devices).
A training part passes when every loss is finite and the trained weights moved. The exit code is 0 when every part
passed. Without a CUDA GPU (and without `--device cpu`) it prints one line and exits 0; `--device cpu --size tiny`
runs every part on the CPU (sdpa against eager, no MFU), to prove the code paths execute.

`--size 1b` is TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 key-value heads, MLP 5632, vocabulary
32,000): 1.10B parameters, 1.03B of them multiply every token. Time on one H100, estimated from FLOPs (not yet
measured): a step of 4 x 2048 tokens is 6.0e13 FLOPs for FMT (7.3 GFLOP a token), 0.15 s at 40% MFU, so 23 steps
take 4 s; LoRA (5.3 GFLOP a token) 3 s; QLoRA (dequantising every matmul) under 10 s; FSDP 3 s. Fixed costs
dominate: imports about 20 s, writing the fp32 backbone (4.4 GB) and each of its 6 loads a few seconds, Lightning's
setup and NCCL's start a few seconds a part. Expected total 2-3 minutes, under the 8-minute limit with a wide margin.
Peak memory of FMT: 17.6 GB of weights, gradients and AdamW states plus about 20 GB of activations.

On the lent GPU machines (python3 there has torch, lightning, transformers, peft, torchmetrics, pyarrow), carry the
missing wheels and map the repository's folders under `ftscale` (docs/benchmarks.md, "GPU check", has the lines).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning as L
import torch

PARTS = ("attention", "fmt", "lora", "qlora", "fsdp")
# Model shapes (Llama): `1b` is TinyLlama-1.1B's; `125m` a quick try on a GPU; `tiny` the CPU dry run.
SIZES: dict[str, dict[str, int]] = {
    "1b": dict(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
               intermediate_size=5632, vocab_size=32000),
    "125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
                 intermediate_size=2048, vocab_size=32000),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=192, vocab_size=512),
}  # fmt: skip
# bf16 keeps 8 significant bits (relative rounding 2^-9); kernels that sum in another order differ by a few such
# roundings a layer, while a masking or position error moves logits by a good fraction of their size.
LOGIT_TOLERANCE = 0.02
MFU_GOAL = 0.45  # FMT on `--size 1b` (issue 21)


@dataclass
class Setup:
    """What every part shares: the device, the saved random-init backbone, the shape of the batches and a folder."""

    device: torch.device
    backbone: str
    vocab: int
    batch: int
    seq: int
    steps: int
    warmup: int
    root: str
    precision: str = "bf16-mixed"

    @functools.cached_property
    def batches(self) -> list[dict[str, torch.Tensor]]:
        """`warmup + steps` batches of random tokens, the first quarter of each row a prompt the loss skips."""
        from ftscale.datamodules.batching import IGNORE_INDEX

        gen = torch.Generator().manual_seed(0)
        batches = []
        for _ in range(self.warmup + self.steps):
            ids = torch.randint(3, self.vocab, (self.batch, self.seq), generator=gen)
            labels = ids.clone()
            labels[:, : self.seq // 4] = IGNORE_INDEX
            batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
        return batches


@dataclass
class PartResult:
    """One part's outcome; `values` are the part's measurements, `error` its one-line failure."""

    part: str
    passed: bool = False
    seconds: float = 0.0
    peak_memory_gib: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    warnings: list[str] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=parse_parts, default=PARTS, help=f"comma-separated, from {','.join(PARTS)}")
    parser.add_argument("--size", choices=sorted(SIZES), default="1b")
    parser.add_argument("--batch", type=positive, default=4, help="rows per step")
    parser.add_argument("--seq", type=positive, default=2048, help="tokens per row (at least 8)")
    parser.add_argument("--steps", type=positive, default=20, help="timed training steps per part")
    parser.add_argument("--warmup", type=positive, default=3, help="training steps before the timed ones")
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: a dry run of the code paths")
    args = parser.parse_args(argv)
    if args.seq < 8:
        parser.error(f"--seq {args.seq}: at least 8 tokens a row (the attention part pads rows by a quarter)")
    return args


def parse_parts(text: str) -> tuple[str, ...]:
    """`--parts a,b` as a tuple in the check's order; unknown names are an error that lists the valid ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list from {','.join(PARTS)}")
    return tuple(part for part in PARTS if part in names)


def positive(text: str) -> int:
    """A positive integer option."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU on this machine (torch {torch.__version__}); nothing checked")
        return 0
    device = torch.device(args.device)
    started = time.perf_counter()
    print_header(args, device)
    results: list[PartResult] = []
    with quiet_libraries(), tempfile.TemporaryDirectory() as root:
        setup = prepare(args, device, root)
        for name in args.parts:  # each row and the report as soon as its part is done: a cut-off run keeps them
            results.append(run_part(name, PART_FUNCTIONS[name], setup))
            print_row(results[-1], results)
            if args.out:
                write_report(args.out, args, device, results, time.perf_counter() - started)
    print_summary(results, time.perf_counter() - started)
    return 0 if len(results) == len(args.parts) and all(r.passed for r in results) else 1


def write_report(out: Path, args: argparse.Namespace, device: torch.device, results: list[PartResult], seconds: float):
    """The results so far as JSON; `complete` once every part asked for has run."""
    report = {"device": device_name(device), "packages": package_versions(), "args": vars(args)}
    report |= {"complete": len(results) == len(args.parts), "passed": all(r.passed for r in results)}
    report |= {"seconds": seconds, "parts": [asdict(r) for r in results]}
    out.write_text(json.dumps(report, indent=2, default=str))


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Keep the output to the table (Lightning's and transformers' info lines and bars say nothing about the check);
    restored afterwards, so a caller in the same process keeps its logging."""
    from transformers.utils import logging as transformers_logging

    # bitsandbytes' CPU backend offers a hub kernel when imported (cli/main.py quiets the same logger).
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "bitsandbytes.backends.cpu.ops")]
    levels = [logger.level for logger in loggers]
    verbosity, bars = transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def prepare(args: argparse.Namespace, device: torch.device, root: str) -> Setup:
    """Save a random-init Llama of `--size` in fp32, so training loads fp32 master weights (under bf16-mixed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = SIZES[args.size]
    config = LlamaConfig(
        **shape, max_position_embeddings=max(2048, args.seq), tie_word_embeddings=False, bos_token_id=1,
        eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):  # random init on the GPU: seconds for 1.1B parameters, a minute on the CPU
        model = LlamaForCausalLM(config)
    backbone = f"{root}/backbone"
    model.save_pretrained(backbone)
    del model
    free_memory(device)
    return Setup(device, backbone, shape["vocab_size"], args.batch, args.seq, args.steps, args.warmup, root)


def run_part(name: str, check: Callable[[Setup], dict[str, Any]], setup: Setup) -> PartResult:
    """Run one part; any exception becomes the part's error line, and the memory is freed for the next part."""
    result = PartResult(name)
    if setup.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(setup.device)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result.values = check(setup)
            result.passed = bool(result.values.pop("passed"))
        except Exception as error:  # any failure of one part must leave the others to run
            result.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
            result.traceback = traceback.format_exc()
    result.seconds = time.perf_counter() - started
    result.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if setup.device.type == "cuda":
        result.peak_memory_gib = torch.cuda.max_memory_allocated(setup.device) / 2**30
    free_memory(setup.device)
    return result


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# --- parts ------------------------------------------------------------------------------------------------------


def check_attention(setup: Setup) -> dict[str, Any]:
    """ftscale's kernel choice and its bf16 logits against a reference kernel on real positions of padded rows."""
    from ftscale.backbones.attention import FLASH, choose_attn_implementation, flash_attention_unavailable
    from ftscale.backbones.loading import load_backbone

    chosen = choose_attn_implementation(None)
    expected = "sdpa" if flash_attention_unavailable() else FLASH
    reference = "eager" if chosen == "sdpa" else "sdpa"
    ids = torch.randint(3, setup.vocab, (1, setup.seq), generator=torch.Generator().manual_seed(0)).repeat(3, 1)
    mask = torch.ones_like(ids)
    pad = ids.size(1) // 4
    mask[1, -pad:] = 0  # right padding, as training batches have
    mask[2, :pad] = 0  # left padding, as generation prompts have
    logits = {}
    for kernel in (chosen, reference):
        model = load_backbone(setup.backbone, kernel, dtype=torch.bfloat16).to(setup.device).eval()
        with torch.no_grad():
            out = model(input_ids=ids.to(setup.device), attention_mask=mask.to(setup.device), use_cache=False)
        logits[kernel] = out.logits.float()[mask.to(setup.device).bool()]
        del model, out
    difference = (logits[chosen] - logits[reference]).abs().max().item()
    relative = difference / logits[reference].abs().max().item()
    return {
        "passed": chosen == expected and relative <= LOGIT_TOLERANCE,
        "chosen": chosen,
        "expected": expected,
        "flash_attn": flash_attention_unavailable() or "available",
        "reference": reference,
        "max_abs_difference": difference,
        "max_relative_difference": relative,
        "tolerance": LOGIT_TOLERANCE,
    }


def check_fmt(setup: Setup) -> dict[str, Any]:
    """Full-model tuning: tokens/s, MFU and the master weights' dtype."""
    from ftscale.lightning_modules import FullFinetune

    return train(setup, FullFinetune(backbone=setup.backbone))


def check_lora(setup: Setup) -> dict[str, Any]:
    """LoRA rank 4 on every linear layer."""
    from ftscale.lightning_modules import LoRA

    return train(setup, LoRA(backbone=setup.backbone, rank=4))


def check_qlora(setup: Setup) -> dict[str, Any]:
    """QLoRA: LoRA on a 4-bit NF4 base; the part also says how many layers are 4-bit and where they live."""
    import bitsandbytes as bnb

    from ftscale.lightning_modules import LoRA

    module = LoRA(backbone=setup.backbone, rank=4, quantization="nf4")
    result = train(setup, module)
    layers = [m for m in module.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    result["nf4_layers"] = len(layers)
    result["nf4_devices"] = sorted({str(m.weight.device) for m in layers})
    result["passed"] = result["passed"] and bool(layers)
    return result


def check_fsdp(setup: Setup) -> dict[str, Any]:
    """FullFinetune under ModelParallelStrategy (FSDP2) with configs/trainer/fsdp.yaml's settings, one device."""
    import torch.distributed as dist
    from lightning.pytorch.strategies import ModelParallelStrategy
    from torch.distributed.fsdp import FSDPModule

    from ftscale.lightning_modules import FullFinetune

    module = FullFinetune(backbone=setup.backbone)
    strategy = ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1, save_distributed_checkpoint=False)
    # Lightning writes the rendezvous (MASTER_ADDR, MASTER_PORT), the ranks (LOCAL_RANK, NODE_RANK) and
    # OMP_NUM_THREADS into os.environ: a later part, or a process this one starts, must inherit none of them (with
    # LOCAL_RANK set, a later `ftscale fit` takes itself for a launched worker), nor the process group.
    environ = dict(os.environ)
    try:
        result = train(setup, module, strategy=strategy)
        result["backend"] = dist.get_backend()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(environ)
    result["fsdp_units"] = sum(isinstance(m, FSDPModule) for m in module.model.modules())
    result["passed"] = result["passed"] and result["fsdp_units"] > 1
    return result


PART_FUNCTIONS: dict[str, Callable[[Setup], dict[str, Any]]] = {
    "attention": check_attention,
    "fmt": check_fmt,
    "lora": check_lora,
    "qlora": check_qlora,
    "fsdp": check_fsdp,
}


# --- training ---------------------------------------------------------------------------------------------------


def train(setup: Setup, module, strategy: Any = "auto") -> dict[str, Any]:
    """Fit `module` for warmup + timed steps at bf16-mixed; tokens/s and MFU over the timed steps."""
    import lightning as L
    from torch.utils.data import DataLoader

    from ftscale.callbacks.throughput import TrainingThroughput

    throughput = TrainingThroughput()
    probe = TrainingProbe(throughput, setup.warmup)
    trainer = L.Trainer(
        accelerator=setup.device.type,
        devices=1,
        strategy=strategy,
        precision=setup.precision,
        max_steps=setup.warmup + setup.steps,
        callbacks=[throughput, probe],
        default_root_dir=setup.root,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=DataLoader(setup.batches, batch_size=None))
    seconds = probe.stopped - probe.started
    losses = torch.stack(probe.losses).float().cpu()
    peak = throughput.available_flops
    return {
        "passed": bool(torch.isfinite(losses).all()) and probe.moved,
        "tokens_per_s": probe.tokens / seconds,
        "mfu": probe.flops / seconds / peak if peak else None,
        "peak_flops": peak,
        "step_ms": 1000 * seconds / setup.steps,
        "first_loss": losses[0].item(),
        "last_loss": losses[-1].item(),
        "weights_moved": probe.moved,
        "master_weights": str(probe.dtype),
        "trainable_params": module.trainable_parameters,
        "total_params": module.total_parameters,
    }


class TrainingProbe(L.Callback):
    """Times the steps after `warmup` (the device synchronised at both ends) and checks that the trained weights moved.

    Reads the tokens and FLOPs `TrainingThroughput` counted, so the timed rate uses ftscale's own FLOPs model.
    """

    def __init__(self, throughput: Any, warmup: int) -> None:
        self.throughput, self.warmup = throughput, warmup
        self.losses: list[torch.Tensor] = []
        self.started = self.stopped = 0.0
        self.tokens = self.flops = 0
        self.moved = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        name, weight = next((n, p) for n, p in pl_module.named_parameters() if p.requires_grad)
        self.name, self.dtype, self.initial = name, weight.dtype, local(weight).detach().clone()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *_: Any) -> None:
        self.losses.append(outputs["loss"].detach())
        if trainer.global_step == self.warmup:  # the warm-up steps are done: the timed ones start now
            self._mark(trainer)
            self.started = time.perf_counter()
            self.tokens, self.flops = -self.throughput.real_tokens, -self.throughput.flops

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark(trainer)
        self.stopped = time.perf_counter()
        self.tokens += self.throughput.real_tokens
        self.flops += self.throughput.flops
        weight = dict(pl_module.named_parameters())[self.name]
        self.moved = not torch.equal(local(weight).detach(), self.initial)

    @staticmethod
    def _mark(trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This process's part of a tensor (FSDP2 shards parameters as DTensors)."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


# --- output -----------------------------------------------------------------------------------------------------


PACKAGES = ("torch", "transformers", "peft", "lightning", "bitsandbytes", "flash-attn", "datasets", "pyarrow")


def package_versions() -> dict[str, str | None]:
    """Versions of the packages the parts rest on (None: not installed): a GPU image may hold others than here."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def print_header(args: argparse.Namespace, device: torch.device) -> None:
    print(
        f"gpu_check: {device_name(device)}, size {args.size}, batch {args.batch} x {args.seq}, "
        f"{args.steps} timed steps after {args.warmup}"
    )
    print("packages: " + ", ".join(f"{name} {version or 'none'}" for name, version in package_versions().items()))
    print(
        f"{'part':10s} {'status':6s} {'tokens/s':>10s} {'MFU':>6s} {'peak GiB':>8s} {'time s':>6s}  notes", flush=True
    )


def print_row(result: PartResult, results: list[PartResult]) -> None:
    v = result.values
    rate = f"{v['tokens_per_s']:,.0f}" if "tokens_per_s" in v else "-"
    mfu = f"{v['mfu']:.1%}" if v.get("mfu") is not None else "-"
    memory = f"{result.peak_memory_gib:.1f}" if result.peak_memory_gib is not None else "-"
    status = "ok" if result.passed else "FAILED"
    line = f"{result.part:10s} {status:6s} {rate:>10s} {mfu:>6s} {memory:>8s} {result.seconds:6.1f}"
    print(f"{line}  {notes(result, results)}", flush=True)


def print_summary(results: list[PartResult], seconds: float) -> None:
    """The MFU goal, then the verdict."""
    fmt = next((r for r in results if r.part == "fmt" and r.values.get("mfu") is not None), None)
    if fmt is not None:
        met = "met" if fmt.values["mfu"] >= MFU_GOAL else "not met"
        print(f"FMT MFU {fmt.values['mfu']:.1%}: goal {MFU_GOAL:.0%} on --size 1b {met}")
    failed = [r.part for r in results if not r.passed]
    verdict = f"failed: {', '.join(failed)}" if failed else f"all {len(results)} parts passed"
    print(f"{verdict} ({seconds:.0f} s)")


def notes(result: PartResult, results: list[PartResult]) -> str:
    """What a row needs beside its numbers: the error, the attention comparison, ratios and dtypes."""
    if result.error:
        return result.error
    v = result.values
    if result.part == "attention":
        return (
            f"{v['chosen']} (flash-attn: {v['flash_attn']}) vs {v['reference']}: max abs "
            f"{v['max_abs_difference']:.2e}, max rel {v['max_relative_difference']:.2e} (tolerance {v['tolerance']})"
        )
    text = f"loss {v['first_loss']:.2f} -> {v['last_loss']:.2f}, master weights {v['master_weights'].split('.')[-1]}"
    fmt = next((r for r in results if r.part == "fmt" and r.passed), None)
    if result.part in ("lora", "qlora") and fmt is not None:
        text += f", {v['tokens_per_s'] / fmt.values['tokens_per_s']:.2f}x FMT tokens/s"
    if result.part == "qlora":
        text += f", {v['nf4_layers']} nf4 layers on {','.join(v['nf4_devices'])}"
    if result.part == "fsdp":
        text += f", {v['fsdp_units']} fully_shard units, {v['backend']}"
    if not v["weights_moved"]:
        text += ", trained weights did not move"
    return text


if __name__ == "__main__":
    sys.exit(main())
