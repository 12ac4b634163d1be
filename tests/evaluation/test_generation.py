"""Batched generation from the prompts of a batch, for every method, equals generating one prompt at a time."""

import pytest
import torch
from transformers import AutoTokenizer

from ftscale.evaluation.generation import generate_ids, prompts_of
from ftscale.lightning_modules import FullFinetune, LoRA, PromptTuning

METHODS = {"fmt": (FullFinetune, {}), "lora": (LoRA, {}), "prompt_tuning": (PromptTuning, {"num_virtual_tokens": 4})}
TEXTS = ["Translate from Veloran to Kathuri:\nna delilad folsolo pel fa.\n", "hello\n", "vel dol renfo lasir.\n"]


@pytest.fixture(scope="module")
def tokenizer(make_backbone):
    return AutoTokenizer.from_pretrained(make_backbone("xs"))


@pytest.fixture(scope="module")
def prompts(tokenizer) -> list[torch.Tensor]:
    """Prompts of different lengths, so a batch of them needs padding."""
    return [torch.tensor([tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]]) for t in TEXTS]


def build(method: str, backbone) -> torch.nn.Module:
    """The method's model with larger random weights: a tiny random-init model repeats one token, which would
    hide a position or padding error."""
    cls, options = METHODS[method]
    module = cls(backbone=str(backbone), **options)
    module.configure_model()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.model.parameters():
            parameter.normal_(0, 0.3)
    return module.model.eval()


@pytest.mark.parametrize("method", list(METHODS))
def test_batched_generation_equals_one_prompt_at_a_time(method, make_backbone, tokenizer, prompts):
    model = build(method, make_backbone("xs"))
    ids = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=8)
    batched = generate_ids(model, prompts, **ids)
    assert batched == [generate_ids(model, [prompt], **ids)[0] for prompt in prompts]
    assert all(len(new) <= 8 for new in batched)
    assert len({tuple(new) for new in batched}) > 1  # the rows really differ
    texts = tokenizer.batch_decode(batched, skip_special_tokens=True)
    assert all(isinstance(text, str) for text in texts) and any(texts)


@pytest.mark.parametrize("method", ["lora", "prompt_tuning"])
def test_beam_search_is_batched_the_same_way(method, make_backbone, tokenizer, prompts):
    model = build(method, make_backbone("xs"))
    ids = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=5)
    batched = generate_ids(model, prompts, num_beams=3, **ids)
    assert batched == [generate_ids(model, [prompt], num_beams=3, **ids)[0] for prompt in prompts]
    assert all(len(new) <= 5 for new in batched)


def test_generation_stops_before_the_first_eos(make_backbone, tokenizer, prompts):
    model = build("fmt", make_backbone("xs"))
    free = generate_ids(model, prompts[:1], eos_token_id=tokenizer.eos_token_id, pad_token_id=0, max_new_tokens=8)[0]
    # Declare a token the model emits as eos: generation must end just before it.
    stop = next(i for i, token in enumerate(free) if i > 0 and token not in free[:i])
    cut = generate_ids(model, prompts[:1], eos_token_id=free[stop], pad_token_id=0, max_new_tokens=8)[0]
    assert cut == free[:stop]


def test_prompts_are_the_source_tokens_of_each_row():
    batch = {"input_ids": torch.arange(12).view(2, 6), "source_lengths": torch.tensor([2, 4])}
    assert [p.tolist() for p in prompts_of(batch)] == [[0, 1], [6, 7, 8, 9]]
