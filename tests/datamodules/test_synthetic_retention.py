"""The retention task of claim 5 (configs/eval/world_retention.yaml): the finetuning task's source into another
target language, built from the run's data options, its few-shot prompts from its own training split."""

from ftscale.cli.lightning import transfer_datamodule
from ftscale.datamodules import SyntheticTranslation
from tests.datamodules.conftest import as_examples

RETENTION = "configs/eval/world_retention.yaml"


def test_retention_translates_the_finetuning_source_into_a_target_it_does_not_train(world_tokenizer_dir, in_repo):
    run = SyntheticTranslation(str(world_tokenizer_dir), world_seed=3, pool_size=64, val_size=8, test_size=8)
    retention = transfer_datamodule(RETENTION, run, shots=0, option="retention")
    assert (run.source_lang, run.target_lang) == ("ve", "ka")
    assert (retention.source_lang, retention.target_lang) == ("ve", "ti")
    assert retention.world_seed == 3 and retention.split_sizes == run.split_sizes  # the run's world and sizes
    ours, theirs = as_examples(retention.examples("test")), as_examples(run.examples("test"))
    # The same held-out meanings and source sentences, rendered in another target language.
    assert [e.source for e in ours] == [e.source for e in theirs]
    assert {e.language for e in ours} == {"ti"} and all(a.target != b.target for a, b in zip(ours, theirs, strict=True))
    assert all(p.startswith("Translate from Veloran to Tilvek:\n") for p in retention.prompts("test", ours))


def test_few_shot_retention_prompts_hold_demonstrations_of_its_own_training_split(world_tokenizer_dir, in_repo):
    run = SyntheticTranslation(str(world_tokenizer_dir), pool_size=64, val_size=8, test_size=8)
    retention = transfer_datamodule(RETENTION, run, shots=3, option="retention")
    train = {retention.render_source(e) + e.target for e in as_examples(retention.examples("train"))}
    finetuning = {run.render_source(e) + e.target for e in as_examples(run.examples("train"))}
    test = as_examples(retention.examples("test"))
    for prompt, example in zip(retention.prompts("test", test), test, strict=True):
        shots = prompt.split("\n\n")[:-1]
        assert len(shots) == 3 and all(shot in train and shot not in finetuning for shot in shots)
        assert prompt.endswith("\n\n" + retention.render_source(example))
