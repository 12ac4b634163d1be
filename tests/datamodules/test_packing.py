"""Packing: the same per-example loss as padding, fewer padded positions, and no packing with prompt tuning."""

import pytest
import torch
import torch.nn.functional as F
from peft import PromptTuningConfig, TaskType, get_peft_model
from transformers import AutoModelForCausalLM

from ftscale.datamodules.batching import IGNORE_INDEX, PadCollator, example_lengths
from ftscale.datamodules.packing import PackCollator, check_packable, pack_rows
from ftscale.lightning_modules import FullFinetune
from ftscale.lightning_modules.base import flatten_packed_rows

LENGTHS = [23, 5, 17, 9, 11, 4, 30, 8]  # packs into fewer rows than examples


def items(lengths: list[int], vocab: int = 1000) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    return [
        {
            "ids": torch.randint(5, vocab, (n,), generator=gen).tolist(),
            "source_length": n // 3 + 1,
            "reference": f"r{i}",
            "language": "ka",
        }
        for i, n in enumerate(lengths)
    ]


def per_example_nll(module: FullFinetune, batch: dict, examples: list[dict]) -> list[float]:
    """Summed NLL of each example's targets, found by its tokens in whichever row and offset it sits."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    # Without use_cache=False transformers builds a KV cache and then ignores packed position ids for the mask.
    logits = module.model(**inputs, use_cache=False).logits
    nll = F.cross_entropy(
        logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:], ignore_index=IGNORE_INDEX, reduction="none"
    )
    sums = []
    for example in examples:
        ids, n = torch.tensor(example["ids"]), len(example["ids"])
        row, start = next(
            (r, s)
            for r in range(batch["input_ids"].size(0))
            for s in range(batch["input_ids"].size(1) - n + 1)
            if torch.equal(batch["input_ids"][r, s : s + n], ids)
        )
        # The logit at position p predicts token p + 1: the example's targets are predicted from [start, start+n-1).
        sums.append(float(nll[row, start : start + n - 1].sum()))
    return sums


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packing_gives_each_example_the_loss_padding_gives(make_backbone, attention):
    module = FullFinetune(backbone=str(make_backbone("xs")), attn_implementation=attention)
    module.configure_model()
    module.eval()
    examples = items(LENGTHS)
    padded, packed = PadCollator(0)(examples), PackCollator(0)(examples)
    assert packed["input_ids"].size(0) < padded["input_ids"].size(0)
    with torch.no_grad():
        expected, got = per_example_nll(module, padded, examples), per_example_nll(module, packed, examples)
        nll_padded, count_padded = module.token_nll(padded)
        nll_packed, count_packed = module.token_nll(packed)
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert int(count_packed) == int(count_padded) == sum(n - (n // 3 + 1) for n in LENGTHS)
    assert float(nll_packed) == pytest.approx(float(nll_padded), rel=1e-5)


def test_packed_rows_restart_positions_and_mask_boundaries():
    examples = items(LENGTHS)
    batch = PackCollator(pad_token_id=0)(examples)
    assert "attention_mask" not in batch
    assert example_lengths(batch).tolist() == LENGTHS and batch["references"] == [e["reference"] for e in examples]
    starts = batch["position_ids"] == 0
    # Every example starts a segment at position 0 and its first token is never a label.
    assert (batch["labels"][starts] == IGNORE_INDEX).all()
    labelled = int((batch["labels"] != IGNORE_INDEX).sum())
    assert labelled == sum(n - (n // 3 + 1) for n in LENGTHS)
    padded = PadCollator(0)(examples)
    assert batch["input_ids"].numel() < padded["input_ids"].numel()
    assert batch["input_ids"].size(1) == padded["input_ids"].size(1) == max(LENGTHS)


def test_pack_rows_places_every_example_once_within_the_width():
    rows = pack_rows(LENGTHS)
    assert sorted(i for row in rows for i in row) == list(range(len(LENGTHS)))
    assert all(sum(LENGTHS[i] for i in row) <= max(LENGTHS) for row in rows)
    assert len(rows) == 4  # first-fit decreasing: 30 | 23+5 | 17+11 | 9+8+4


def test_prompt_tuning_refuses_packing(make_backbone):
    backbone = AutoModelForCausalLM.from_pretrained(make_backbone("xs"))
    check_packable(backbone)  # a plain (FMT) model packs
    prompt = get_peft_model(backbone, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4))
    with pytest.raises(ValueError, match=r"data\.pack=true does not work with prompt tuning"):
        check_packable(prompt)


def test_flattened_packed_rows_keep_each_example_apart(make_backbone):
    """flash-attn gets packed rows as one [1, R*T] row; the mask from position ids must keep the same loss."""
    module = FullFinetune(backbone=str(make_backbone("xs")), attn_implementation="sdpa")
    module.configure_model()
    module.eval()
    packed = PackCollator(0)(items(LENGTHS))
    inputs = {k: packed[k] for k in ("input_ids", "position_ids")}
    with torch.no_grad():
        rows = module.model(**inputs, use_cache=False).logits
        flat = module.model(**flatten_packed_rows(inputs), use_cache=False).logits
    assert flat.shape[:2] == (1, packed["input_ids"].numel())
    torch.testing.assert_close(flat.view_as(rows), rows, rtol=1e-4, atol=1e-4)
