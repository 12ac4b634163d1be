"""Shared fixtures: an isolated cache, a tokenizer of the embedded world, tiny backbones and the test ladder."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ftscale.cli.main import wait_passively

wait_passively()  # before torch loads: the tests' runs and the subprocesses they start share the cores

from transformers import AutoTokenizer, LlamaForCausalLM  # noqa: E402

from tests.hub_cache import TinyHub, build_hub_cache, use_hub_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEST_LADDER = ROOT / "configs" / "pretrain" / "test.yaml"


@pytest.fixture(scope="session", autouse=True)
def ftscale_cache(tmp_path_factory) -> Path:
    """Every test session pretrains into its own cache, never the user's."""
    path = tmp_path_factory.mktemp("ftscale-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTSCALE_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def world_tokenizer_dir(ftscale_cache) -> Path:
    from ftscale.datamodules import world_tokenizer

    return world_tokenizer(seed=0, vocab_size=1024)


@pytest.fixture(scope="session")
def make_backbone(world_tokenizer_dir, tmp_path_factory):
    """Build (once per size) a randomly initialised ladder model with the world tokenizer; return its path."""
    from ftscale.ladder.shapes import ladder_config

    built: dict[str, Path] = {}

    def make(size: str = "xs") -> Path:
        if size not in built:
            tokenizer = AutoTokenizer.from_pretrained(world_tokenizer_dir)
            config = ladder_config(
                size,
                len(tokenizer),
                512,
                tokenizer.bos_token_id,
                tokenizer.eos_token_id,
                tokenizer.pad_token_id,
            )
            path = tmp_path_factory.mktemp(f"backbone-{size}")
            LlamaForCausalLM(config).save_pretrained(path)
            tokenizer.save_pretrained(path)
            built[size] = path
        return built[size]

    return make


@pytest.fixture(scope="session")
def test_ladder(ftscale_cache) -> dict[str, dict]:
    """The test ladder of configs/pretrain/test.yaml, pretrained once per session (slow tests only)."""
    from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder

    return pretrain_ladder(load_pretrain_config(TEST_LADDER))


@pytest.fixture(scope="session")
def tiny_hub(tmp_path_factory) -> TinyHub:
    """Tiny GPT-NeoX (Pythia-like, revisions step1, step2, main), Qwen2 and Llama models in an offline hub cache."""
    hub = build_hub_cache(tmp_path_factory.mktemp("hf-home"))
    with pytest.MonkeyPatch.context() as patch:
        use_hub_cache(patch, hub.home)
        yield hub


@pytest.fixture
def in_repo(monkeypatch):
    """Run with the repository as working directory, as the README's commands do."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # A directory of this session's own, not one of pytest's numbered ones: a pytest started beside this one (another
    # checkout, CI on a shared machine) prunes all but the 3 newest numbered directories, and with them this
    # session's cache, ladder and hub while its tests still read them.
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="ftscale-tests-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))
    # Two cores on CI: torch's own threads should not fight pytest-xdist workers if the user adds -n.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
