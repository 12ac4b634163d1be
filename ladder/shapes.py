"""The built-in ladder of tiny Llama-style backbones that ftscale pretrains on its embedded world.

Non-embedding parameters: xxs 13,944, xs 25,248, s 55,536, m 150,976, ml 310,480, l 443,232, xl 1.19M.
"""

from dataclasses import dataclass

from transformers import LlamaConfig

from ftscale.errors import InputError


@dataclass(frozen=True)
class LadderSize:
    """Shape of one ladder model; non-embedding parameters go from 14K (xxs) to 1.19M (xl), 85x."""

    hidden: int
    layers: int
    heads: int
    intermediate: int


LADDER: dict[str, LadderSize] = {
    "xxs": LadderSize(hidden=24, layers=2, heads=2, intermediate=64),
    "xs": LadderSize(hidden=32, layers=2, heads=2, intermediate=88),
    "s": LadderSize(hidden=48, layers=2, heads=3, intermediate=128),
    "m": LadderSize(hidden=64, layers=3, heads=4, intermediate=176),
    "ml": LadderSize(hidden=80, layers=4, heads=4, intermediate=216),  # 2.06x m: the study's held-out size
    "l": LadderSize(hidden=96, layers=4, heads=4, intermediate=256),
    "xl": LadderSize(hidden=128, layers=6, heads=4, intermediate=344),
}


def ladder_config(size: str, vocab_size: int, max_positions: int, bos_id: int, eos_id: int, pad_id: int) -> LlamaConfig:
    """The Hugging Face config of ladder model `size`."""
    if size not in LADDER:
        raise InputError(f"ladder size {size!r} is unknown; expected one of {sorted(LADDER)}")
    shape = LADDER[size]
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        intermediate_size=shape.intermediate,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,  # at this scale the embedding would otherwise dwarf the transformer
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
