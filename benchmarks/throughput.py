"""Training tokens/s of each method through ftscale (Lightning) vs the Hugging Face Trainer (+ peft).

Both train the same random-init ladder model (`--size`, built with the world tokenizer) on the same
examples of the embedded translation task (`--examples`, one epoch is examples / batch steps), with the
same batch, AdamW, learning rate, warmup + cosine schedule and number of epochs, on this machine's
CPU. Neither evaluates, saves or logs (Lightning: `logger=False`, no checkpointing or progress bar,
the `TrainingThroughput` callback the CLI adds; HF: `eval_strategy`/`save_strategy`/`logging_strategy`
"no", `report_to="none"`, tqdm off). The model is built by the method's own `adapt` for both. A run is
timed per epoch; the first epoch is warm-up; tokens/s = the epoch's real (non-padding) tokens / its time,
median over the timed epochs of all rounds (rounds alternate the runs, so drift hits all alike).

All runs share one process, so the garbage collector runs before each one, outside the timing: otherwise the
run that happens to be going when the objects earlier runs left cross Python's threshold pays for a full
collection of the whole process (~650,000 objects, about 0.35 s of CPU on the 2-core development machine, a
quarter of an epoch). The collections inside timed epochs are printed per run, with the padded positions per
epoch (the same examples batch differently on the two sides). OpenMP threads wait passively, as under `ftscale`.
`--clock cpu` times epochs in CPU time on one torch thread: the work each loop does, which other jobs on a
shared machine do not move; `wall` (default) is what a user waits.

    python benchmarks/throughput.py [--size l] [--examples 320] [--batch 16] [--epochs 3] [--rounds 2]
                                    [--methods fmt,lora,prompt] [--clock wall|cpu]
"""

from ftscale.cli.main import wait_passively

wait_passively()  # before torch loads, as the ftscale CLI does

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import lightning as L  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    LlamaForCausalLM,
    TrainerCallback,
    TrainingArguments,
)

from ftscale.callbacks.throughput import TrainingThroughput  # noqa: E402
from ftscale.datamodules import SyntheticTranslation, world_tokenizer  # noqa: E402
from ftscale.datamodules.batching import IGNORE_INDEX  # noqa: E402
from ftscale.ladder.shapes import ladder_config  # noqa: E402
from ftscale.lightning_modules import FullFinetune, LoRA, PromptTuning  # noqa: E402

METHODS = {"fmt": ("FMT", FullFinetune), "lora": ("LoRA", LoRA), "prompt": ("prompt tuning", PromptTuning)}
FTSCALE = {"plain": {}, "grouped": {"group_by_length": True}, "packed": {"pack": True}}
HF = {"plain": False, "group_by_length": True}
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}  # cpu: this thread's CPU time (one torch thread)


class GarbageCollections:
    """CPU seconds the garbage collector has spent, and its full collections, since the process started."""

    seconds = 0.0
    full = 0
    _started = 0.0

    @classmethod
    def record(cls, phase: str, info: dict) -> None:
        if phase == "start":
            cls._started = time.thread_time()
        else:
            cls.seconds += time.thread_time() - cls._started
            cls.full += info["generation"] == 2


gc.callbacks.append(GarbageCollections.record)


class EpochMeter:
    """Per training epoch: its time on `clock`, the garbage collections in it, and the padded positions trained."""

    def __init__(self, clock: Callable[[], float], positions: Callable[[], int]) -> None:
        self.clock, self.positions = clock, positions
        self.times: list[float] = []
        self.collections: list[tuple[float, int]] = []  # (CPU seconds, full collections)
        self.padded: list[int] = []

    def start(self) -> None:
        self._start = (self.clock(), GarbageCollections.seconds, GarbageCollections.full, self.positions())

    def stop(self) -> None:
        clock, seconds, full, positions = self._start
        self.times.append(self.clock() - clock)
        self.collections.append((GarbageCollections.seconds - seconds, GarbageCollections.full - full))
        self.padded.append(self.positions() - positions)


class LightningEpochs(Callback):
    """Feeds Lightning's epoch boundaries to an `EpochMeter`."""

    def __init__(self, meter: EpochMeter) -> None:
        self.meter = meter

    def on_train_epoch_start(self, *args) -> None:
        self.meter.start()

    def on_train_epoch_end(self, *args) -> None:
        self.meter.stop()


class HFEpochs(TrainerCallback):
    """Feeds the HF Trainer's epoch boundaries to an `EpochMeter`."""

    def __init__(self, meter: EpochMeter) -> None:
        self.meter = meter

    def on_epoch_begin(self, *args, **kwargs) -> None:
        self.meter.start()

    def on_epoch_end(self, *args, **kwargs) -> None:
        self.meter.stop()


class CountingCollator:
    """The HF collator, counting the padded positions of the batches it makes."""

    def __init__(self, collator: DataCollatorForSeq2Seq) -> None:
        self.collator, self.positions = collator, 0

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collator(features)
        self.positions += batch["input_ids"].numel()
        return batch


def ftscale_epochs(method, backbone: str, data: SyntheticTranslation, epochs: int, root: str, clock) -> EpochMeter:
    torch.manual_seed(0)
    throughput = TrainingThroughput()
    meter = EpochMeter(clock, lambda: throughput.positions)
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[LightningEpochs(meter), throughput],
        default_root_dir=root,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(method(backbone=backbone), datamodule=data)
    return meter


def hf_epochs(method, backbone: str, data: SyntheticTranslation, args, group: bool, root: str, clock) -> EpochMeter:
    torch.manual_seed(0)
    module = method(backbone=backbone)
    module.configure_model()
    pairs = data.dataset("train")
    examples = [
        {"input_ids": ids, "labels": [IGNORE_INDEX] * n + ids[n:]}
        for ids, n in zip(pairs.ids, pairs.source_lengths, strict=True)
    ]
    steps = args.epochs * len(examples) // args.batch
    collator = CountingCollator(DataCollatorForSeq2Seq(AutoTokenizer.from_pretrained(backbone), padding=True))
    meter = EpochMeter(clock, lambda: collator.positions)
    training = TrainingArguments(
        output_dir=root,
        per_device_train_batch_size=args.batch,
        num_train_epochs=args.epochs,
        learning_rate=module.hparams.learning_rate,
        weight_decay=module.hparams.weight_decay,
        warmup_steps=int(module.hparams.warmup_ratio * steps),
        lr_scheduler_type="cosine",
        optim="adamw_torch",
        train_sampling_strategy="group_by_length" if group else "random",
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=module.model, args=training, train_dataset=examples, data_collator=collator, callbacks=[HFEpochs(meter)]
    )
    trainer.train()
    return meter


def parse_methods(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(name not in METHODS for name in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list from {','.join(METHODS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="l")
    parser.add_argument("--examples", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--methods", type=parse_methods, default=list(METHODS), help=",".join(METHODS))
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="cpu: CPU time on one torch thread")
    args = parser.parse_args()
    if args.clock == "cpu":
        torch.set_num_threads(1)  # a thread's CPU time is then all the loop's work
    clock = CLOCKS[args.clock]

    tokenizer_dir = world_tokenizer()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    with tempfile.TemporaryDirectory() as root:
        backbone = f"{root}/backbone"
        ids = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
        LlamaForCausalLM(ladder_config(args.size, len(tokenizer), 512, *ids)).save_pretrained(backbone)
        tokenizer.save_pretrained(backbone)
        datasets = {
            name: SyntheticTranslation(backbone, train_size=args.examples, batch_size=args.batch, **options)
            for name, options in FTSCALE.items()
        }
        for data in datasets.values():
            data.setup("fit")
        tokens = sum(len(ids) for ids in datasets["plain"].dataset("train").ids)  # per epoch, any variant

        rates: dict[tuple[str, str], list[float]] = {}
        padded: dict[tuple[str, str], list[int]] = {}
        for _ in range(args.rounds):
            for method_name, method in (METHODS[key] for key in args.methods):
                runs = {f"ftscale {name}": data for name, data in datasets.items()}
                runs.update({f"HF Trainer {name}": group for name, group in HF.items()})
                for run, variant in runs.items():
                    if method is PromptTuning and run == "ftscale packed":
                        continue  # peft's prompt tuning cannot pack (datamodules/packing.py)
                    gc.collect()  # what earlier runs left is collected here, not inside this run's epochs
                    if run.startswith("ftscale"):
                        meter = ftscale_epochs(method, backbone, variant, args.epochs, root, clock)
                    else:
                        meter = hf_epochs(method, backbone, datasets["plain"], args, variant, root, clock)
                    rates.setdefault((method_name, run), []).extend(tokens / t for t in meter.times[1:])
                    padded.setdefault((method_name, run), []).extend(meter.padded[1:])
                    collections = [f"{s:.2f} s/{n} full" for s, n in meter.collections]
                    print(
                        f"{method_name} / {run}: epochs {[round(t, 2) for t in meter.times]} s, "
                        f"garbage collection {collections}, padded positions {meter.padded}",
                        flush=True,
                    )

    print(
        f"ladder {args.size}, {args.examples} examples x {args.epochs} epochs, batch {args.batch}, "
        f"{tokens} real tokens per epoch, {torch.get_num_threads()} threads, {args.clock} clock, "
        f"transformers {transformers.__version__}"
    )
    for method_name, _ in (METHODS[key] for key in args.methods):
        baseline = statistics.median(rates[(method_name, "HF Trainer plain")])
        positions = statistics.mean(padded[(method_name, "HF Trainer plain")])
        for (name, run), values in rates.items():
            if name == method_name:
                median = statistics.median(values)
                work = statistics.mean(padded[(name, run)]) / positions
                print(
                    f"{name:14s} {run:28s} {median:9.0f} tokens/s  {median / baseline:5.2f}x HF plain"
                    f"  (padded positions {work:5.3f}x)"
                )


if __name__ == "__main__":
    main()
