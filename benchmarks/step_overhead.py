"""Training-step overhead of ftscale's module inside the Lightning Trainer vs a plain PyTorch loop.

Both loops train the same ladder model (random init) on the same batches with the same loss
(`FinetuneModule.token_nll`) and AdamW; a step is timed from one batch start to the next, so data
fetching and every bit of loop machinery count. Prints the medians and their ratio (goal: <= 1.10).
The garbage collector runs before each loop, outside the timing, so neither pays for what the other left
(benchmarks/throughput.py says why); OpenMP threads wait passively, as under `ftscale`.

    python benchmarks/step_overhead.py [--size m] [--steps 60] [--batch 16] [--length 96] [--rounds 4]
"""

from ftscale.cli.main import wait_passively

wait_passively()  # before torch loads, as the ftscale CLI does

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from transformers import LlamaForCausalLM, get_cosine_schedule_with_warmup  # noqa: E402

from ftscale.datamodules.batching import IGNORE_INDEX  # noqa: E402
from ftscale.ladder.shapes import ladder_config  # noqa: E402
from ftscale.lightning_modules import FullFinetune  # noqa: E402


def batches(n: int, batch: int, length: int, vocab: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(3, vocab, (batch, length), generator=gen)
        labels = ids.clone()
        labels[:, : length // 2] = IGNORE_INDEX
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return out


class StepClock(Callback):
    """Records the wall time between consecutive batch starts."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.starts.append(time.perf_counter())


def plain_loop(module: FullFinetune, loader: DataLoader, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr)
    # The same schedule the module gives Lightning, so both loops do the same work per step.
    scheduler = get_cosine_schedule_with_warmup(optimizer, 0, len(loader))
    module.train()
    starts = []
    for batch in loader:
        starts.append(time.perf_counter())
        nll, count = module.token_nll(batch)
        (nll / count).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    starts.append(time.perf_counter())
    return [b - a for a, b in itertools.pairwise(starts)]


def lightning_loop(module: FullFinetune, loader: DataLoader, steps: int, root: str) -> list[float]:
    clock = StepClock()
    trainer = L.Trainer(
        max_steps=steps,
        callbacks=[clock],
        default_root_dir=root,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        log_every_n_steps=50,
    )
    trainer.fit(module, loader)
    return [b - a for a, b in itertools.pairwise(clock.starts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="m")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the medians")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of each loop (the VM is noisy)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        LlamaForCausalLM(ladder_config(args.size, 2048, 512, 1, 2, 0)).save_pretrained(root + "/backbone")
        data = batches(args.steps, args.batch, args.length, 2048)
        results, rounds = {}, []
        # Alternate the two so drift of the machine's speed hits both alike.
        for name in ("plain", "lightning") * args.rounds:
            torch.manual_seed(0)
            module = FullFinetune(backbone=root + "/backbone", warmup_ratio=0.0)
            module.configure_model()
            loader = DataLoader(data, batch_size=None)
            gc.collect()  # what the last loop left is collected here, not inside this loop's steps
            times = (
                plain_loop(module, loader, 1e-3)
                if name == "plain"
                else lightning_loop(module, loader, args.steps, root)
            )
            results.setdefault(name, []).extend(times[args.warmup :])
            rounds.append(statistics.median(times[args.warmup :]))
    plain = statistics.median(results["plain"])
    lightning = statistics.median(results["lightning"])
    print(f"ladder size {args.size}, batch {args.batch}x{args.length}, {torch.get_num_threads()} threads")
    print(f"plain PyTorch loop   median step {plain * 1000:.1f} ms")
    print(f"Lightning + ftscale  median step {lightning * 1000:.1f} ms")
    print(f"ratio {lightning / plain:.3f} (goal <= 1.10)")
    pairs = [rounds[i + 1] / rounds[i] for i in range(0, len(rounds), 2)]
    print(f"per-round ratios {', '.join(f'{r:.3f}' for r in pairs)}")


if __name__ == "__main__":
    main()
