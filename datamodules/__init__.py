"""What is learned from: the embedded world, finetuning tasks (synthetic and real
benchmarks), nested subsets and the pretraining corpus."""

from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.corpus import PretrainCorpus
from ftscale.datamodules.finetune import FinetuneDataModule
from ftscale.datamodules.subsets import log_spaced_sizes, nested_subset
from ftscale.datamodules.summarization import Summarization
from ftscale.datamodules.synthetic import SyntheticSummarization, SyntheticTranslation
from ftscale.datamodules.translation import Translation
from ftscale.datamodules.world import Example, World, world_tokenizer

__all__ = [
    "Example",
    "FinetuneDataModule",
    "PretrainCorpus",
    "Summarization",
    "SyntheticSummarization",
    "SyntheticTranslation",
    "Translation",
    "World",
    "cache_dir",
    "log_spaced_sizes",
    "nested_subset",
    "world_tokenizer",
]
