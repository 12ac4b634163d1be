"""A byte-level BPE tokenizer trained on the world's pretraining text, cached in Hugging Face format."""

import hashlib
import shutil
import tempfile
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ftscale.datamodules import templates
from ftscale.datamodules.cache import cache_dir
from ftscale.datamodules.world.world import GENERATOR_VERSION, World

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
TRAINING_WORDS = 300_000


def _prompt_texts(world: World) -> list[str]:
    """Every task prompt with every language name, so each prompt word gets learned merges."""
    names = [world.name(code) for code in world.languages]
    texts = [templates.SUMMARIZATION.format(language=name, document="") for name in names]
    texts += [
        templates.TRANSLATION.format(source_language=a, target_language=b, source="")
        for a in names
        for b in names
        if a != b
    ]
    return texts * 20


def _train(seed: int, vocab_size: int, out: Path) -> None:
    world = World(seed)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [*world.pretraining_documents(TRAINING_WORDS), *_prompt_texts(world)]
    tokenizer.train_from_iterator(texts, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS).save_pretrained(out)


def world_tokenizer(seed: int = 0, vocab_size: int = 2048) -> Path:
    """Path of the world's tokenizer (trained on first use, then cached; same seed, same bytes)."""
    key = hashlib.sha256(f"{GENERATOR_VERSION}|{seed}|{vocab_size}".encode()).hexdigest()[:16]
    parent = cache_dir("world", key)
    path = parent / "tokenizer"
    if not path.is_dir():
        # Build aside and rename: a crash or a concurrent process never leaves a half-written tokenizer.
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".tokenizer-"))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any other
        _train(seed, vocab_size, tmp)
        try:
            tmp.rename(path)
        except OSError:  # another process finished first
            shutil.rmtree(tmp)
    return path
