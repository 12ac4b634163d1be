"""`ftscale pretrain`: pretrain the built-in ladder on the embedded corpus, checkpointed at token budgets, cached."""

from dataclasses import replace

from ftscale.cli import parsing
from ftscale.datamodules.cache import cache_dir
from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder


def main(argv: list[str]) -> int:
    command = parsing.parser(
        "ftscale pretrain",
        "Pretrain the built-in ladder on the embedded corpus, saving a Hugging Face checkpoint at every token "
        "budget; cached, so a rerun does no work.",
    )
    command.add_argument(
        "--config", default="configs/pretrain/ladder.yaml", help="pretraining config (default: %(default)s)"
    )
    command.add_argument("--sizes", nargs="+", help="pretrain only these sizes of the config (e.g. xs s)")
    args = command.parse_args(argv)
    config = load_pretrain_config(args.config)
    if args.sizes:
        config = replace(config, sizes=args.sizes)
    for size, manifest in pretrain_ladder(config).items():
        losses = ", ".join(f"{c['tokens']}: {c['val_loss']:.3f}" for c in manifest["checkpoints"])
        print(f"{size} ({manifest['non_embedding_params']:,} non-embedding params) val loss by tokens: {losses}")
    print(f"checkpoints under {cache_dir('ladder', config.key)}")
    return 0
