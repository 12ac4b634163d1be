"""QLoRA (a bitsandbytes-quantised frozen base under LoRA) and 8-bit AdamW, on bitsandbytes' CPU backend."""

import bitsandbytes as bnb
import lightning as L
import pytest
import torch

from ftscale.lightning_modules import FullFinetune, LoRA
from tests.helpers import make_batch, train_on

QUANTISED_LINEAR = {"nf4": bnb.nn.Linear4bit, "int8": bnb.nn.Linear8bitLt}


def train_on_one_batch(module, tmp_path, steps: int = 6) -> list[float]:
    """Train `steps` steps on the same batch; return the loss before each step."""
    batch = make_batch(vocab=module.model.config.vocab_size)
    losses = []

    class RecordLoss(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = train_on(module, [batch] * steps, tmp_path, callbacks=[RecordLoss()])
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    return losses


@pytest.mark.parametrize("quantization", sorted(QUANTISED_LINEAR))
def test_qlora_trains_the_adapter_over_a_quantised_base_and_saves_only_the_adapter(
    quantization, make_backbone, tmp_path
):
    module = LoRA(backbone=str(make_backbone("xs")), rank=4, quantization=quantization, learning_rate=1e-2)
    module.configure_model()
    base = module.model.get_base_model().model.layers[0].self_attn.q_proj.base_layer
    assert isinstance(base, QUANTISED_LINEAR[quantization])

    losses = train_on_one_batch(module, tmp_path)
    assert losses[-1] < losses[0]
    # Evaluation (eval mode, no grad) takes another bitsandbytes path on the CPU; it must compute the same loss.
    batch = make_batch(vocab=module.model.config.vocab_size)
    train_mode_nll = module.token_nll(batch)[0].detach()
    with torch.no_grad():
        eval_mode_nll = module.eval().token_nll(batch)[0]
    torch.testing.assert_close(eval_mode_nll, train_mode_nll, rtol=1e-2, atol=1e-2)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["state_dict"]
    trained = module.trained_tensor_names()
    assert set(saved) == trained
    assert all("lora_" in name for name in saved)


def test_adamw8bit_keeps_8bit_moments_and_trains(make_backbone, tmp_path):
    module = FullFinetune(backbone=str(make_backbone("xs")), optimizer="adamw8bit", learning_rate=1e-2)
    module.configure_model()
    losses = train_on_one_batch(module, tmp_path)
    assert losses[-1] < losses[0]
    optimizer = module.trainer.optimizers[0]
    assert isinstance(optimizer, bnb.optim.AdamW8bit)
    # bitsandbytes keeps tensors under 4096 elements in fp32; the embedding's moments are 8-bit.
    embedding = module.model.get_input_embeddings().weight
    assert optimizer.state[embedding]["state1"].dtype == torch.uint8


def under_fsdp(module, monkeypatch):
    # ModelParallelStrategy sets the device mesh before configure_model; the refusals need no real one.
    monkeypatch.setattr(type(module), "device_mesh", property(lambda self: "mesh"))
    return module


def test_qlora_under_fsdp_is_refused(make_backbone, monkeypatch):
    module = under_fsdp(LoRA(backbone=str(make_backbone("xs")), quantization="nf4"), monkeypatch)
    with pytest.raises(ValueError, match=r"model\.quantization does not run under FSDP"):
        module.configure_model()


def test_adamw8bit_under_fsdp_is_refused(make_backbone, monkeypatch):
    module = FullFinetune(backbone=str(make_backbone("xs")), optimizer="adamw8bit")
    module.configure_model()
    with pytest.raises(ValueError, match="'adamw8bit' does not run under FSDP"):
        under_fsdp(module, monkeypatch).configure_optimizers()
