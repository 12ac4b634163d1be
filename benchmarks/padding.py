"""Padding of training batches on the embedded tasks: plain, grouped by length, packed, and both.

One epoch of each task's training subset through `FinetuneDataModule.train_dataloader`; the padding
fraction is padded positions over all positions of the batches (packed rows pad only at their ends).

    python benchmarks/padding.py [--train-size 4000] [--batch 16]
"""

import argparse

from ftscale.datamodules import SyntheticSummarization, SyntheticTranslation, world_tokenizer
from ftscale.datamodules.batching import example_lengths

VARIANTS = {"plain": {}, "grouped": {"group_by_length": True}, "packed": {"pack": True}}
VARIANTS["grouped + packed"] = {"group_by_length": True, "pack": True}


def padding_fraction(data) -> tuple[float, int]:
    """Padded share of the positions of one training epoch, and how many rows it took."""
    real = positions = rows = 0
    for batch in data.train_dataloader():
        real += int(example_lengths(batch).sum())
        positions += batch["input_ids"].numel()
        rows += batch["input_ids"].size(0)
    return 1 - real / positions, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    tokenizer = str(world_tokenizer())
    tasks = {"translation": SyntheticTranslation, "summarization": SyntheticSummarization}
    print(f"train_size {args.train_size}, batch {args.batch}; padding fraction (rows per epoch)")
    for task, cls in tasks.items():
        cells = []
        for name, options in VARIANTS.items():
            data = cls(tokenizer, train_size=args.train_size, batch_size=args.batch, **options)
            fraction, rows = padding_fraction(data)
            cells.append(f"{name} {fraction:.3f} ({rows})")
        print(f"{task:14s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
