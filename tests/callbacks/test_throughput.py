"""TrainingThroughput: the FLOPs formula, parameter counts, MFU only with a known peak, padding fraction."""

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.trainer.states import RunningStage
from torch.utils.data import DataLoader
from transformers import LlamaForCausalLM

from ftscale.backbones.loading import load_backbone, quantization_config
from ftscale.callbacks.throughput import TrainingThroughput, flops_per_token, h200_peak_flops, matmul_parameters
from ftscale.ladder.shapes import ladder_config
from ftscale.lightning_modules import FullFinetune
from tests.helpers import make_batch


def test_flops_per_token_counts_parameters_and_attention():
    # 6 x 10 trainable + 4 x 100 frozen + 12 x 2 layers x 4 wide x 3 context = 60 + 400 + 288
    assert flops_per_token(trainable=10, frozen=100, layers=2, attention_width=4, context=3) == 748


@pytest.mark.parametrize("tied", [True, False])
def test_matmul_parameters_leave_out_embedding_lookups_but_not_a_tied_head(tied):
    config = ladder_config("xs", 100, 64, 1, 2, 0)
    config.tie_word_embeddings = tied
    model = LlamaForCausalLM(config)
    model.model.layers[0].requires_grad_(False)
    frozen = sum(p.numel() for p in model.model.layers[0].parameters())
    total = sum(p.numel() for p in model.parameters())  # a tied weight is listed once
    lookup = 0 if tied else 100 * config.hidden_size
    assert matmul_parameters(model) == (total - frozen - lookup, frozen)


def test_a_4bit_backbone_multiplies_through_as_many_weights_as_its_original(make_backbone):
    path = make_backbone("xs")
    original = load_backbone(path, "sdpa")
    quantized = load_backbone(path, "sdpa", quantization=quantization_config("nf4"))
    assert any(p.numel() < math.prod(p.quant_state.shape) for p in quantized.parameters() if hasattr(p, "quant_state"))
    assert sum(matmul_parameters(quantized)) == sum(matmul_parameters(original))


def test_no_peak_is_known_for_a_cpu():
    assert h200_peak_flops(torch.device("cpu"), torch.float32) is None


def batches() -> list[dict[str, torch.Tensor]]:
    out = []
    for i in range(4):
        batch = make_batch(vocab=1000, batch=2, length=8)
        batch["attention_mask"][1, 8 - i :] = 0  # i padded positions in the second row
        out.append(batch)
    return out


@pytest.mark.parametrize("peak", [None, 1e12])
def test_rates_mfu_and_padding_of_a_run(make_backbone, peak):
    module = FullFinetune(backbone=str(make_backbone("xs")), warmup_ratio=0.0)
    throughput = TrainingThroughput(peak_flops=peak)
    trainer = L.Trainer(
        max_steps=4,
        log_every_n_steps=2,  # the rates are logged on logging steps only
        callbacks=[throughput],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    data = batches()
    trainer.fit(module, DataLoader(data, batch_size=None))
    summary = throughput.summary()
    elapsed = throughput._throughputs[RunningStage.TRAINING]._time[-1]  # Lightning's training time, validation out
    tokens = sum(int(b["attention_mask"].sum()) for b in data)
    assert summary["tokens_per_s"] == pytest.approx(tokens / elapsed)
    assert summary["samples_per_s"] == pytest.approx(8 / elapsed)
    assert summary["padding_fraction"] == pytest.approx(
        (0 + 1 + 2 + 3 + 3 * 4) / (4 * 16)
    )  # make_batch pads row 0 by 3
    trainable, frozen = matmul_parameters(module.model)
    config = module.model.config
    expected = sum(
        n * flops_per_token(trainable, frozen, config.num_hidden_layers, config.hidden_size, n)
        for b in data
        for n in b["attention_mask"].sum(dim=1).tolist()
    )
    assert throughput.flops == expected
    if peak is None:
        assert summary["mfu"] is None  # a CPU's peak is unknown
    else:
        assert summary["mfu"] == pytest.approx(expected / elapsed / peak)
    assert "train/padding_fraction" in trainer.callback_metrics
