"""k-shot prompts: k training demonstrations before every evaluation prompt, seeded, never the example itself."""

import pytest

from ftscale.datamodules import Summarization, Translation
from tests.datamodules.conftest import DATA, SPLITS, as_examples, split_files


def demonstrations(prompt: str) -> list[str]:
    """The demonstration blocks of a prompt (each is a rendered training prompt and its target)."""
    return prompt.split("\n\n")[:-1]


def test_eval_prompts_hold_k_training_demonstrations(world_tokenizer_dir):
    data = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=3, shot_seed=7)
    train = {data.render_source(e) + e.target for e in as_examples(data.examples("train"))}
    test = as_examples(data.examples("test"))
    prompts = data.prompts("test", test)
    for prompt, example in zip(prompts, test, strict=True):
        shots = demonstrations(prompt)
        assert len(shots) == 3 and len(set(shots)) == 3
        assert all(shot in train for shot in shots)
        assert prompt.endswith("\n\n" + data.render_source(example))
    assert len({tuple(demonstrations(p)) for p in prompts}) > 1  # drawn per example
    again = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=3, shot_seed=7)
    assert again.prompts("test", test) == prompts
    other = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=3, shot_seed=8)
    assert other.prompts("test", test) != prompts
    assert data.prompts("train", as_examples(data.examples("train"))) == [
        data.render_source(e) for e in as_examples(data.examples("train"))
    ]


def test_prompt_tokens_are_the_shot_prompt_and_training_is_unchanged(world_tokenizer_dir):
    data = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=2, train_size=5)
    data.setup()
    tokenizer = data.hf_tokenizer
    item, prompt = (
        data.dataset("validation")[0],
        data.prompts("validation", as_examples(data.examples("validation")))[0],
    )
    assert item["ids"][: item["source_length"]] == [tokenizer.bos_token_id, *tokenizer(prompt)["input_ids"]]
    train_item = data.dataset("train")[0]
    example = as_examples(data.examples("train"))[data.train_indices()[0]]
    assert tokenizer.decode(train_item["ids"][1 : train_item["source_length"]]) == data.render_source(example)


def test_a_long_shot_prompt_keeps_the_example_and_cuts_demonstrations(world_tokenizer_dir):
    data = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=4, max_source_tokens=60)
    with pytest.warns(UserWarning, match="truncated 5 sources"):
        data.setup("test")
    tokenizer = data.hf_tokenizer
    for index, example in enumerate(as_examples(data.examples("test"))):
        item = data.dataset("test")[index]
        assert item["source_length"] == 60
        assert tokenizer.decode(item["ids"][1:60]).endswith(data.render_source(example))


def test_demonstrations_are_never_the_example_and_share_its_language(world_tokenizer_dir):
    # The test files double as the training files: every evaluated example is also a training example.
    local = {code: dict.fromkeys(SPLITS, str(DATA / "mlsum" / code / "test.jsonl")) for code in ("de", "fr")}
    data = Summarization(str(world_tokenizer_dir), languages=["de", "fr"], data_files=local, num_shots=1)
    test = as_examples(data.examples("test"))
    for seed in range(5):
        data.shot_seed = seed
        for prompt, example in zip(data.prompts("test", test), test, strict=True):
            (shot,) = demonstrations(prompt)
            others = [e for e in test if e != example and e.language == example.language]
            assert shot in {data.render_source(e) + e.target for e in others}


def test_too_few_training_examples_is_an_error(world_tokenizer_dir):
    data = Translation(str(world_tokenizer_dir), data_files=split_files("wmt_en_de"), num_shots=21)
    with pytest.raises(
        ValueError,
        match=r"data\.num_shots=21 needs 21 training examples in language 'de' other than the evaluated one; the "
        r"training split has 20",
    ):
        data.setup("test")
