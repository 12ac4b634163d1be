"""A checkpoint written before the rooms moved under the `ftscale.` namespace still loads and exports."""

from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from ftscale.lightning_modules import LoRA, load_method

# `ftscale fit` of LoRA (rank 2, 2 steps) on the test ladder's xs model, by the code of stop 8: its
# `_class_path` is the bare `lightning_modules.LoRA`.
LEGACY = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "lora_pre_namespace.ckpt"


def test_pre_namespace_checkpoint_loads_and_exports(make_backbone, tmp_path):
    saved = torch.load(LEGACY, weights_only=True)["state_dict"]
    assert saved and all("lora_" in name for name in saved)
    # The backbone it was trained on lived in that session's cache; any xs model carries the same adapter.
    module = load_method(LEGACY, map_location="cpu", backbone=str(make_backbone("xs")))
    assert type(module) is LoRA and module.hparams.rank == 2
    state = module.state_dict()
    for name, tensor in saved.items():
        assert torch.equal(state[name], tensor), name
    out = module.export(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(make_backbone("xs"))
    reloaded = PeftModel.from_pretrained(base, out)
    loaded = {k: v for k, v in reloaded.state_dict().items() if "lora_" in k}
    assert len(loaded) == len(saved)
    for name, tensor in saved.items():
        key = name.removeprefix("model.").replace(".default.", ".default.")
        assert torch.equal(loaded[key], tensor), key
