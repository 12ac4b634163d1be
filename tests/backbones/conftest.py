"""The tiny offline hub cache (to move into tests/conftest.py so that tests/sweeps can use it too)."""

import pytest

from tests.hub_cache import TinyHub, build_hub_cache, use_hub_cache


@pytest.fixture(scope="session")
def tiny_hub(tmp_path_factory) -> TinyHub:
    """Tiny GPT-NeoX (Pythia-like, revisions step1, step2, main), Qwen2 and Llama models in an offline hub cache."""
    hub = build_hub_cache(tmp_path_factory.mktemp("hf-home"))
    with pytest.MonkeyPatch.context() as patch:
        use_hub_cache(patch, hub.home)
        yield hub
