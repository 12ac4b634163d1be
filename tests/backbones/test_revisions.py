"""Hub revisions: the offline cache is in the real layout and each revision loads its own weights."""

import pytest
import torch
from huggingface_hub import scan_cache_dir
from transformers import AutoModelForCausalLM

from ftscale.backbones.loading import load_backbone
from ftscale.lightning_modules import FullFinetune


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_cache_is_what_huggingface_hub_reads(tiny_hub):
    repos = {repo.repo_id: repo for repo in scan_cache_dir(tiny_hub.cache).repos}
    assert set(repos) == set(tiny_hub.models.values())
    refs = {ref for revision in repos[tiny_hub.models["gpt_neox"]].revisions for ref in revision.refs}
    assert refs == set(tiny_hub.revisions)


def test_each_revision_loads_the_weights_of_its_snapshot(tiny_hub):
    model_id = tiny_hub.models["gpt_neox"]
    repo = next(r for r in scan_cache_dir(tiny_hub.cache).repos if r.repo_id == model_id)
    weights = {}
    for revision in tiny_hub.revisions:
        loaded = state(load_backbone(model_id, revision=revision))
        snapshot = next(r.snapshot_path for r in repo.revisions if revision in r.refs)
        expected = state(AutoModelForCausalLM.from_pretrained(snapshot))
        assert loaded.keys() == expected.keys()
        assert all(torch.equal(loaded[k], expected[k]) for k in loaded)
        weights[revision] = loaded
    first, *others = weights.values()
    assert all(not torch.equal(first["gpt_neox.embed_in.weight"], o["gpt_neox.embed_in.weight"]) for o in others)


def test_finetune_module_loads_its_revision(tiny_hub):
    model_id = tiny_hub.models["gpt_neox"]
    module = FullFinetune(backbone=model_id, revision="step1")
    module.configure_model()
    expected = state(load_backbone(model_id, revision="step1"))
    assert all(torch.equal(v, expected[k]) for k, v in state(module.model).items())
    assert module.hparams.revision == "step1"  # saved with the checkpoint, so a reload gets the same weights


def test_missing_revision_fails_to_load_with_its_name(tiny_hub):
    with pytest.raises(FileNotFoundError, match=r"model.backbone='ftscale-tiny/gpt-neox' at revision 'step9'"):
        load_backbone(tiny_hub.models["gpt_neox"], revision="step9")
