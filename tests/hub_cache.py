"""A Hugging Face hub cache of tiny random models, in the real layout, and a small WMT-schema translation task.

huggingface_hub has no public function that writes its cache (only downloads do), so `add_snapshot` writes the
layout by hand: `models--org--name/blobs/<sha256>`, `snapshots/<commit>/<file>` (a relative symlink to the blob)
and `refs/<revision>` (the commit). Tests check it with the public `huggingface_hub.scan_cache_dir`.
"""

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    GPTNeoXConfig,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

ORG = "ftscale-tiny"
REVISIONS = ("step1", "step2", "main")  # of the Pythia-like model, each with its own weights
SPECIALS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
WORDS = {  # English -> German, translated word for word
    "the": "der", "a": "ein", "small": "klein", "big": "gross", "red": "rot", "blue": "blau", "cat": "katze",
    "dog": "hund", "house": "haus", "tree": "baum", "sees": "sieht", "finds": "findet", "likes": "mag", "has": "hat",
}  # fmt: skip


@dataclass(frozen=True)
class TinyHub:
    """What `build_hub_cache` wrote: the cache, the repo id of each architecture, and the task's files."""

    home: Path  # HF_HOME
    cache: Path  # HF_HUB_CACHE
    models: dict[str, str]  # gpt_neox (Pythia-like, with REVISIONS), qwen2, llama -> hub id
    revisions: tuple[str, ...]
    data_files: dict[str, str]  # train, validation, test -> JSONL in WMT's schema (en -> de)
    task: Path  # a datamodule config of that task (ftscale.datamodules.Translation over data_files)


def build_hub_cache(home: Path) -> TinyHub:
    """Write the tiny models (a few thousand parameters each) and the task under `home`."""
    cache = home / "hub"
    data_files = write_translation_task(home / "wmt_tiny")
    tokenizer = train_tokenizer([line for path in data_files.values() for line in Path(path).read_text().splitlines()])
    vocab = len(tokenizer)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    configs: dict[str, PretrainedConfig] = {
        "gpt_neox": GPTNeoXConfig(
            vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=128, tie_word_embeddings=False, **ids,
        ),
        "qwen2": Qwen2Config(
            vocab_size=vocab, hidden_size=24, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            intermediate_size=48, max_position_embeddings=128, tie_word_embeddings=True, **ids,
        ),
        "llama": LlamaConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
            intermediate_size=64, max_position_embeddings=128, tie_word_embeddings=True, **ids,
        ),
    }  # fmt: skip
    repos = {arch: f"{ORG}/{arch.replace('_', '-')}" for arch in configs}
    for seed, (arch, config) in enumerate(configs.items()):
        for step, revision in enumerate(REVISIONS if arch == "gpt_neox" else ("main",)):
            torch.manual_seed(100 * seed + step)
            files = home / "build" / arch / revision
            AutoModelForCausalLM.from_config(config).save_pretrained(files)
            tokenizer.save_pretrained(files)
            add_snapshot(cache, repos[arch], revision, files)
    task = home / "wmt_tiny" / "task.yaml"
    task.write_text(
        json.dumps(
            {
                "class_path": "ftscale.datamodules.Translation",
                "init_args": {"source_lang": "en", "target_lang": "de", "data_files": data_files},
            }
        )  # JSON is YAML
    )
    return TinyHub(home, cache, repos, REVISIONS, data_files, task)


def add_snapshot(cache: Path, repo_id: str, revision: str, files: Path) -> str:
    """Put the files of directory `files` into `cache` as `repo_id` at branch `revision`; return the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    paths = sorted(p for p in files.rglob("*") if p.is_file())
    digests = {p.relative_to(files).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    commit = hashlib.sha1(json.dumps([repo_id, revision, digests]).encode()).hexdigest()
    for name, digest in digests.items():
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes((files / name).read_bytes())
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level BPE of about a hundred tokens: small enough that embeddings stay a few thousand parameters."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIALS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=96, special_tokens=list(SPECIALS.values()))
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIALS)


def write_translation_task(directory: Path, sizes: tuple[int, int, int] = (64, 16, 16)) -> dict[str, str]:
    """Seeded word-for-word En-De pairs as JSONL records {"translation": {"en": ..., "de": ...}} per split."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    files = {}
    for split, size in zip(("train", "validation", "test"), sizes, strict=True):
        lines = []
        for _ in range(size):
            words = rng.choices(sorted(WORDS), k=rng.randint(3, 8))
            pair = {"en": " ".join(words), "de": " ".join(WORDS[w] for w in words)}
            lines.append(json.dumps({"translation": pair}))
        path = directory / f"{split}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        files[split] = str(path)
    return files


def use_hub_cache(patch: pytest.MonkeyPatch, home: Path) -> None:
    """Point huggingface_hub at the cache under `home` and take it offline, as `HF_HOME=home HF_HUB_OFFLINE=1` would.

    huggingface_hub reads these variables once, when imported, so its constants are patched as well.
    """
    from huggingface_hub import constants

    cache = str(home / "hub")
    for name, value in {"HF_HOME": str(home), "HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"}.items():
        patch.setenv(name, value)
    patch.setattr(constants, "HF_HOME", str(home))
    patch.setattr(constants, "HF_HUB_CACHE", cache)
    patch.setattr(constants, "HF_HUB_OFFLINE", True)
