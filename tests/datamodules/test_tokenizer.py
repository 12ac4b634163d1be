"""The world tokenizer and the cache it lives in."""

from pathlib import Path

from transformers import AutoTokenizer

from ftscale.datamodules import World, cache_dir, world_tokenizer


def test_cache_dir_honours_env_and_creates(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "root"))
    path = cache_dir("a", "b")
    assert path == tmp_path / "root" / "a" / "b" and path.is_dir()
    monkeypatch.delenv("FTSCALE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == Path(tmp_path / "home" / ".cache" / "ftscale")


def test_round_trip_and_special_tokens(world_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(world_tokenizer_dir)
    assert len(tokenizer) == 1024
    assert None not in (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    world = World(0)
    texts = [e.source + "\n" + e.target for e in world.translation("ka", "mo", "test", 20)]
    texts += ["Summarize the following document in Tilvek:\n", "Translate from Veloran to Kathuri:\n", "ünïcode ok"]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    # Trained on the world, its words are a few tokens each, and prompt words are single tokens.
    assert len(tokenizer("Summarize the following document in")["input_ids"]) <= 7
    sentence = texts[0]
    assert len(tokenizer(sentence)["input_ids"]) < 0.5 * len(sentence)


def test_second_call_is_a_cache_hit(world_tokenizer_dir, monkeypatch):
    files = {p: p.stat().st_mtime_ns for p in world_tokenizer_dir.iterdir()}

    def train(*args):
        raise AssertionError("a cached tokenizer was trained again")

    monkeypatch.setattr("ftscale.datamodules.world.tokenizer._train", train)
    assert world_tokenizer(seed=0, vocab_size=1024) == world_tokenizer_dir
    assert {p: p.stat().st_mtime_ns for p in world_tokenizer_dir.iterdir()} == files


def test_same_seed_same_bytes(world_tokenizer_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path))
    again = world_tokenizer(seed=0, vocab_size=1024)
    assert again != world_tokenizer_dir
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (again / name).read_bytes() == (world_tokenizer_dir / name).read_bytes()
    assert not [p for p in again.parent.iterdir() if p.name.startswith(".")]  # no leftover temporary folder
