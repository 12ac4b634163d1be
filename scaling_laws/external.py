"""Loaders for the published measurements the engine is validated on, copied into the project with their licences:
`tests/fixtures/published/` (Chinchilla, Gemstones, datablations; `root` below) and `benchmarks/data/lin2024/`."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from ftscale.scaling_laws.points import Points, as_points

SIZE_WORDS = {"small", "base", "medium", "large", "xl", "xxl"}
# A size token: 124m, 1.3b, 6.7b, 1_5 (phi-1_5), or a bare count such as 16 experts (switch-base-16).
SIZE_TOKEN = re.compile(r"^\d+([._]\d+)?[mbk]?$")


def model_family(name: str) -> str:
    """Family of a Hugging Face model id: drop the organisation, then the size tokens of the name.

    `facebook/opt-1.3b` -> `opt`, `gpt2-xl` -> `gpt2`, `google/switch-base-16` -> `switch`,
    `facebook/bart-large-cnn` -> `bart-cnn` (a task-tuned variant is its own family).
    """
    tokens = name.rsplit("/", 1)[-1].lower().split("-")
    kept = [t for t in tokens if t not in SIZE_WORDS and not SIZE_TOKEN.match(t)]
    return "-".join(kept) or tokens[0]


def chinchilla(root: Path, drop_highest: int = 5) -> Points:
    """Epoch 2024 Chinchilla points (N params, D tokens, loss) without the `drop_highest` largest losses."""
    with open(root / "chinchilla_epoch2024" / "N_D_loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    n, d, loss = (np.array([float(r[c]) for r in rows]) for c in ("N_params", "D_tokens", "loss"))
    keep = np.sort(np.argsort(loss, kind="stable")[: len(loss) - drop_highest])
    return as_points(n[keep], d[keep], loss[keep], source="chinchilla", names=("N", "D", "loss"))


def gemstones(root: Path) -> Points:
    """Gemstones hot.jsonl: active parameters, tokens, final loss."""
    with open(root / "gemstones2025" / "hot.jsonl") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    cols = [[float(r[c]) for r in rows] for c in ("params_active_precise", "tokens", "final_loss")]
    return as_points(*cols, source="gemstones", names=("N", "D", "loss"))


def datablations(root: Path, max_epochs: float = 2.5) -> Points:
    """datablations C4 runs with at most `max_epochs` epochs: N params, D tokens, validation loss."""
    with open(root / "datablations2023" / "c4_runs.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if float(r["epochs_D_over_U"]) <= max_epochs]
    cols = [[float(r[c]) for r in rows] for c in ("params_N", "tokens_D", "val_loss")]
    return as_points(*cols, source="datablations", names=("N", "D", "loss"))


def lin2024(folder: Path, dataset: str, min_models: int = 3) -> dict[str, Points]:
    """Lin et al. 2024 finetuning losses per model family (families with >= min_models sizes), read from
    `folder/<dataset>.csv` (the project's copy: `benchmarks/data/lin2024/`).

    X = parameter count (`size`), Df = the numeric size columns except `0` (the loss before
    finetuning, which no power law in Df can describe), L = loss.
    """
    with open(folder / f"{dataset}.csv") as fh:
        rows = list(csv.DictReader(fh))
    sizes = [c for c in rows[0] if c.isdigit() and int(c) > 0]
    families: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        families.setdefault(model_family(r["config name"]), []).append(r)
    out = {}
    for fam, members in sorted(families.items()):
        if len({m["size"] for m in members}) < min_models:
            continue
        x = [float(m["size"]) for m in members for _ in sizes]
        df = [float(s) for _ in members for s in sizes]
        loss = [float(m[s]) for m in members for s in sizes]
        out[fam] = as_points(x, df, loss, source=f"{dataset}/{fam}", names=("params", "examples", "loss"))
    return out
