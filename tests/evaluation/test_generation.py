"""Batched generation from the prompts of a batch, for every method, equals generating one prompt at a time."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ftscale.evaluation.generation import generate_ids, prompts_of
from ftscale.lightning_modules import IA3, DoRA, FinetuneModule, FullFinetune, LoRA, PrefixTuning, PromptTuning

METHODS = {
    "fmt": (FullFinetune, {}),
    "lora": (LoRA, {}),
    "prompt_tuning": (PromptTuning, {"num_virtual_tokens": 4}),
    "ia3": (IA3, {}),
    "dora": (DoRA, {}),
    "prefix_tuning": (PrefixTuning, {"num_virtual_tokens": 4}),
}
TEXTS = ["Translate from Veloran to Kathuri:\nna delilad folsolo pel fa.\n", "hello\n", "vel dol renfo lasir.\n"]


@pytest.fixture(scope="module")
def tokenizer(make_backbone):
    return AutoTokenizer.from_pretrained(make_backbone("xs"))


@pytest.fixture(scope="module")
def prompts(tokenizer) -> list[torch.Tensor]:
    """Prompts of different lengths, so a batch of them needs padding."""
    return [torch.tensor([tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]]) for t in TEXTS]


@pytest.fixture(scope="module")
def backbone(make_backbone, tmp_path_factory) -> Path:
    """The xs ladder model with larger random weights: a tiny random-init model repeats one token, which would
    hide a position or padding error."""
    model = AutoModelForCausalLM.from_pretrained(make_backbone("xs"))
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    path = tmp_path_factory.mktemp("loud-backbone")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(make_backbone("xs")).save_pretrained(path)
    return path


def build(method: str, backbone: Path) -> FinetuneModule:
    """The method on `backbone`, its trained tensors moved away from their init so that they change the output."""
    cls, options = METHODS[method]
    module = cls(backbone=str(backbone), **options)
    module.configure_model()
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in module.model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.3 * torch.randn_like(parameter))
    module.model.eval()
    return module


def greedy_in_training_layout(model: torch.nn.Module, prompt: torch.Tensor, steps: int) -> list[int]:
    """Greedy continuation by full forward passes of the trained model over the unpadded prompt, as in training."""
    ids = prompt[None]
    for _ in range(steps):
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits
        ids = torch.cat([ids, logits[:, -1:].argmax(-1)], dim=1)
    return ids[0, len(prompt) :].tolist()


@pytest.mark.parametrize("method", list(METHODS))
def test_batched_generation_equals_one_prompt_at_a_time(method, backbone, tokenizer, prompts):
    model, soft_prompt = build(method, backbone).generation_model()
    ids = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=8)
    ids |= {"soft_prompt": soft_prompt}
    batched = generate_ids(model, prompts, **ids)
    assert batched == [generate_ids(model, [prompt], **ids)[0] for prompt in prompts]
    assert all(len(new) <= 8 for new in batched)
    assert len({tuple(new) for new in batched}) > 1  # the rows really differ
    texts = tokenizer.batch_decode(batched, skip_special_tokens=True)
    assert all(isinstance(text, str) for text in texts) and any(texts)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
def test_generation_continues_as_the_trained_model_predicts(method, backbone, tokenizer, prompts):
    # Methods that put something before the prompt: generation must read it where training does.
    module = build(method, backbone)
    model, soft_prompt = module.generation_model()
    eos = tokenizer.eos_token_id
    for prompt in prompts:
        (new,) = generate_ids(model, [prompt], eos, tokenizer.pad_token_id, 6, soft_prompt=soft_prompt)
        reference = greedy_in_training_layout(module.model, prompt, 6)
        assert new == (reference[: reference.index(eos)] if eos in reference else reference)


@pytest.mark.parametrize("method", ["lora", "prompt_tuning", "prefix_tuning"])
def test_beam_search_is_batched_the_same_way(method, backbone, tokenizer, prompts):
    model, soft_prompt = build(method, backbone).generation_model()
    ids = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=5)
    ids |= {"soft_prompt": soft_prompt}
    batched = generate_ids(model, prompts, num_beams=3, **ids)
    assert batched == [generate_ids(model, [prompt], num_beams=3, **ids)[0] for prompt in prompts]
    assert all(len(new) <= 5 for new in batched)


def test_generation_stops_before_the_first_eos(backbone, tokenizer, prompts):
    model, _ = build("fmt", backbone).generation_model()
    free = generate_ids(model, prompts[:1], eos_token_id=tokenizer.eos_token_id, pad_token_id=0, max_new_tokens=8)[0]
    # Declare a token the model emits as eos: generation must end just before it.
    stop = next(i for i, token in enumerate(free) if i > 0 and token not in free[:i])
    cut = generate_ids(model, prompts[:1], eos_token_id=free[stop], pad_token_id=0, max_new_tokens=8)[0]
    assert cut == free[:stop]


def test_prompts_are_the_source_tokens_of_each_row():
    batch = {"input_ids": torch.arange(12).view(2, 6), "source_lengths": torch.tensor([2, 4])}
    assert [p.tolist() for p in prompts_of(batch)] == [[0, 1], [6, 7, 8, 9]]
