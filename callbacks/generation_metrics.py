"""Generation metrics at test time: decode the first test prompts and score them against their references."""

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ftscale.errors import InputError
from ftscale.evaluation.generation import generate_ids, prompts_of
from ftscale.evaluation.learned_metrics import check_learned_metrics, learned_metrics_to_run, score_learned
from ftscale.evaluation.text_metrics import TextScores, score_texts


class GenerationMetrics(Callback):
    """During `trainer.test`, generate for the first `max_examples` test examples and log `test/bleu`,
    `test/chrf`, `test/rouge1`, `test/rouge2`, `test/rougeL` (every task gets all five, 0-100), per language
    `test/<lang>/<metric>` when the examples hold several languages, and configured learned metrics.

    The sacreBLEU signatures are logged as hyper-parameters (`generation/<metric>_signature`), and the
    generations are written to `generations.jsonl` in the trainer's log directory. In a multi-process run each
    process generates for the first `ceil(max_examples / processes)` examples of its shard (the same number of
    `generate` calls everywhere); rank 0 scores the gathered texts and every process logs the same values.

    Args:
        max_examples: Test examples to generate for; 0 disables generation.
        max_new_tokens: Longest continuation in tokens; generation also stops at eos.
        num_beams: 1 is greedy decoding, more is beam search.
        learned_metrics: Learned metric name -> local checkpoint (`bleurt`, `comet`); see `evaluation.learned_metrics`.
        save_generations: Write prompt, reference, hypothesis and language of each example to `generations.jsonl`.
    """

    def __init__(
        self,
        max_examples: int = 64,
        max_new_tokens: int = 32,
        num_beams: int = 1,
        learned_metrics: dict[str, str] | None = None,
        save_generations: bool = True,
    ) -> None:
        if max_examples < 0 or max_new_tokens < 1 or num_beams < 1:
            raise InputError(
                f"generation.max_examples={max_examples} must be >= 0, generation.max_new_tokens={max_new_tokens} "
                f"and generation.num_beams={num_beams} >= 1"
            )
        check_learned_metrics(learned_metrics or {})
        self.max_examples = max_examples
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.learned_metrics = dict(learned_metrics or {})
        self.save_generations = save_generations
        self.records: list[dict[str, str]] = []
        self.tokenizer: PreTrainedTokenizerBase | None = None

    def _quota(self, trainer: L.Trainer) -> int:
        # Each process takes an equal share, so all make the same number of generate calls (their test batches
        # have equal sizes under Lightning's distributed sampler).
        return -(-self.max_examples // trainer.world_size)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.records = []
        if self.max_examples:
            datamodule = trainer.datamodule
            self.tokenizer = (
                datamodule.hf_tokenizer
                if hasattr(datamodule, "hf_tokenizer")
                else AutoTokenizer.from_pretrained(pl_module.hparams.backbone)
            )

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        room = self._quota(trainer) - len(self.records)
        if room <= 0:
            return
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        prompts = prompts_of(batch)[:room]
        model, soft_prompt = pl_module.generation_model()
        new_ids = generate_ids(
            model,
            prompts,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=pad,
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            synced_gpus=trainer.world_size > 1,
            soft_prompt=soft_prompt,
        )
        prompt_texts = tokenizer.batch_decode(prompts, skip_special_tokens=True)
        hypotheses = tokenizer.batch_decode(new_ids, skip_special_tokens=True)
        for prompt, hypothesis, reference, language in zip(
            prompt_texts, hypotheses, batch["references"], batch["languages"], strict=False
        ):
            self.records.append(
                {"prompt": prompt, "reference": reference, "hypothesis": hypothesis.strip(), "language": language}
            )

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.max_examples == 0:
            return
        # Each process took ceil(max_examples / processes): drop the excess of the last ones.
        records = _gather(self.records, trainer.world_size)[: self.max_examples]
        if not records:
            return
        log_dir = trainer.log_dir or trainer.default_root_dir  # a collective: every process must ask
        # Scored once, on rank 0 (learned metrics load large models), and shared so every process logs the same.
        scores = self._score(records) if trainer.is_global_zero else None
        scores = trainer.strategy.broadcast(scores)
        for name, value in scores.metrics.items():
            pl_module.log(f"{getattr(pl_module, 'test_prefix', 'test')}/{name}", value, sync_dist=True)
        if trainer.is_global_zero:
            signatures = {f"generation/{name}_signature": sig for name, sig in scores.signatures.items()}
            for logger in trainer.loggers:
                logger.log_hyperparams(signatures)
            rank_zero_info(f"generation metrics on {len(records)} test examples; sacreBLEU {signatures}")
            if self.save_generations:
                _write_jsonl(Path(log_dir) / "generations.jsonl", records)

    def _score(self, records: list[dict[str, str]]) -> TextScores:
        columns = {key: [r[key] for r in records] for key in ("hypothesis", "reference", "language", "prompt")}
        scores = score_texts(columns["hypothesis"], columns["reference"], columns["language"])
        runnable, skipped = learned_metrics_to_run(self.learned_metrics)
        if skipped:
            # A warning only when a configured metric cannot run; otherwise it just says how to enable them.
            (rank_zero_warn if self.learned_metrics.keys() - runnable.keys() else rank_zero_info)(skipped)
        scores.metrics |= score_learned(runnable, columns["hypothesis"], columns["reference"], columns["prompt"])
        return scores


def _gather(records: list[dict[str, str]], world_size: int) -> list[dict[str, str]]:
    """Every process's records, in rank order, on every process."""
    if world_size == 1:
        return records
    gathered: list[list[dict[str, str]] | None] = [None] * world_size
    torch.distributed.all_gather_object(gathered, records)
    return [record for part in gathered for record in part]


def _write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
