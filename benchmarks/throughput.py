"""Training tokens/s of each method through ftscale (Lightning) vs the Hugging Face Trainer (+ peft).

Both train the same random-init ladder model (`--size`, built with the world tokenizer) on the same
examples of the embedded translation task (`--examples`, one epoch is examples / batch steps), with the
same batch, AdamW, learning rate, warmup + cosine schedule and number of epochs, on this machine's
CPU. Neither evaluates, saves or logs (Lightning: `logger=False`, no checkpointing or progress bar,
the `TrainingThroughput` callback the CLI adds; HF: `eval_strategy`/`save_strategy`/`logging_strategy`
"no", `report_to="none"`, tqdm off). The model is built by the method's own `adapt` for both. A run is
timed per epoch; the first epoch is warm-up; tokens/s = the epoch's real (non-padding) tokens / its wall
time, median over the timed epochs of all rounds (rounds alternate the runs, so drift hits all alike).

    python benchmarks/throughput.py [--size l] [--examples 320] [--batch 16] [--epochs 3] [--rounds 2]
"""

import argparse
import statistics
import tempfile
import time

import lightning as L
import torch
import transformers
from lightning.pytorch.callbacks import Callback
from transformers import AutoTokenizer, DataCollatorForSeq2Seq, LlamaForCausalLM, TrainerCallback, TrainingArguments

from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.datamodules import SyntheticTranslation, world_tokenizer
from ftscale.datamodules.batching import IGNORE_INDEX
from ftscale.ladder.shapes import ladder_config
from ftscale.lightning_modules import FullFinetune, LoRA, PromptTuning

METHODS = {"FMT": FullFinetune, "LoRA": LoRA, "prompt tuning": PromptTuning}
FTSCALE = {"plain": {}, "grouped": {"group_by_length": True}, "packed": {"pack": True}}
HF = {"plain": False, "group_by_length": True}


class EpochClock(Callback):
    """Wall time of every training epoch in Lightning."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, *args) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, *args) -> None:
        self.times.append(time.perf_counter() - self.started)


class HFEpochClock(TrainerCallback):
    """Wall time of every training epoch in the HF Trainer."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_epoch_begin(self, *args, **kwargs) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, *args, **kwargs) -> None:
        self.times.append(time.perf_counter() - self.started)


def ftscale_epochs(method, backbone: str, data: SyntheticTranslation, epochs: int, root: str) -> list[float]:
    torch.manual_seed(0)
    clock = EpochClock()
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[clock, TrainingThroughput()],
        default_root_dir=root,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(method(backbone=backbone), datamodule=data)
    return clock.times


def hf_epochs(method, backbone: str, data: SyntheticTranslation, args, group: bool, root: str) -> list[float]:
    torch.manual_seed(0)
    module = method(backbone=backbone)
    module.configure_model()
    pairs = data.dataset("train")
    examples = [
        {"input_ids": ids, "labels": [IGNORE_INDEX] * n + ids[n:]}
        for ids, n in zip(pairs.ids, pairs.source_lengths, strict=True)
    ]
    steps = args.epochs * len(examples) // args.batch
    clock = HFEpochClock()
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
    collator = DataCollatorForSeq2Seq(AutoTokenizer.from_pretrained(backbone), padding=True)
    trainer = transformers.Trainer(
        model=module.model, args=training, train_dataset=examples, data_collator=collator, callbacks=[clock]
    )
    trainer.train()
    return clock.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="l")
    parser.add_argument("--examples", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

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
        for _ in range(args.rounds):
            for method_name, method in METHODS.items():
                runs = {f"ftscale {name}": data for name, data in datasets.items()}
                runs.update({f"HF Trainer {name}": group for name, group in HF.items()})
                for run, variant in runs.items():
                    if method is PromptTuning and run == "ftscale packed":
                        continue  # peft's prompt tuning cannot pack (datamodules/packing.py)
                    if run.startswith("ftscale"):
                        times = ftscale_epochs(method, backbone, variant, args.epochs, root)
                    else:
                        times = hf_epochs(method, backbone, datasets["plain"], args, variant, root)
                    rates.setdefault((method_name, run), []).extend(tokens / t for t in times[1:])
                    print(f"{method_name} / {run}: epochs {[round(t, 2) for t in times]} s", flush=True)

    print(
        f"ladder {args.size}, {args.examples} examples x {args.epochs} epochs, batch {args.batch}, "
        f"{tokens} real tokens per epoch, {torch.get_num_threads()} threads, transformers {transformers.__version__}"
    )
    for method_name in METHODS:
        baseline = statistics.median(rates[(method_name, "HF Trainer plain")])
        for (name, run), values in rates.items():
            if name == method_name:
                median = statistics.median(values)
                print(f"{name:14s} {run:28s} {median:9.0f} tokens/s  {median / baseline:5.2f}x HF plain")


if __name__ == "__main__":
    main()
