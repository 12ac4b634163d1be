"""The embedded synthetic world: languages, finetuning tasks, pretraining text and its tokenizer."""

from ftscale.datamodules.world.languages import LANGUAGES, Language
from ftscale.datamodules.world.tokenizer import world_tokenizer
from ftscale.datamodules.world.world import GENERATOR_VERSION, Example, World

__all__ = ["GENERATOR_VERSION", "LANGUAGES", "Example", "Language", "World", "world_tokenizer"]
