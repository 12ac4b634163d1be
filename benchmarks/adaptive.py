"""An adaptive sweep against the full sweep it replaces, on the embedded world (docs/benchmarks.md, "Adaptive sweeps").

The spec (written to OUT/adaptive-bench.yaml): `configs/sweeps/demo_quick.yaml`'s methods fmt and LoRA (its learning
rates) on the test ladder's three sizes xs, s, m -- 6 candidates -- at 6 finetuning sizes 16 ... 512 and 2 seeds, each
point trained for 4 epochs (Df / 4 steps: the planned steps are the steps run), no generation metrics.

1. Pretrains the test ladder (cached; not timed).
2. Runs the full sweep, `ftscale sweep run SPEC --dir OUT/full`, and the adaptive one, `ftscale sweep run SPEC
   --dir OUT/adaptive --select target_df=512 [--budget B]`, each as its own process (timed; a sweep already run is
   read back, with the times recorded then).
3. Compares: training steps (sum of the points' `steps`), points run, wall time (the command's, and from the first
   point's start to the last point's end); the full sweep's winner at the target (the lowest mean test loss over
   seeds at Df 512) against the adaptive choice, the choice's true loss there (the full sweep's measurement) and the
   full sweep's between-seed noise at the target (the pooled standard deviation of the seeds' losses, and that of a
   difference of two candidates' seed means).

    python benchmarks/adaptive.py [--out runs/bench-adaptive] [--workers 2] [--budget B]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

import numpy as np
import yaml

from ftscale.reports.adaptive import adaptive_lines
from ftscale.sweeps.adaptive import candidate_names
from ftscale.sweeps.layout import open_store
from ftscale.sweeps.runner import pretrain_spec
from ftscale.sweeps.spec import load_spec
from ftscale.sweeps.store.stages import StageTask

TARGET = 512
SPEC = {
    "name": "adaptive-bench",
    "base_config": "configs/quickstart.yaml",
    "ladder": "configs/pretrain/test.yaml",
    "methods": {
        "fmt": {
            "config": "configs/methods/fmt.yaml",
            "overrides": {"model.learning_rate": 0.001, "generation.max_examples": 0},
        },
        "lora": {
            "config": "configs/methods/lora.yaml",
            "overrides": {"model.learning_rate": 0.01, "generation.max_examples": 0},
        },
    },
    "axes": {"model_size": ["xs", "s", "m"]},
    "train_sizes": [16, 32, 64, 128, 256, TARGET],
    "seeds": [0, 1],
    "held_out": ["df=max"],
    "data": {"pool_size": 1024, "val_size": 64, "test_size": 200},
    "trainer": {"log_every_n_steps": 10},
    "recipe": {"epochs": 4, "min_steps": 1, "max_steps": 1000, "val_check_interval": 16},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-adaptive"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=float, help="the adaptive sweep's --budget (default: none)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    spec_path = args.out / "adaptive-bench.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    spec = load_spec(spec_path)
    names = candidate_names(spec.points())
    pretrain_spec(spec, args.workers)
    select = ["--select", f"target_df={TARGET}", *(["--budget", str(args.budget)] if args.budget else [])]
    adaptive_dir = args.out / ("adaptive" if args.budget is None else f"adaptive-budget-{args.budget:g}")
    timings = {
        "full": timed_sweep(spec_path, args.out / "full", args.workers, []),
        "adaptive": timed_sweep(spec_path, adaptive_dir, args.workers, select),
    }
    full, adaptive = (open_store(d).rows() for d in (args.out / "full", adaptive_dir))
    print(
        f"\n## {len(set(names.values()))} candidates, target Df {TARGET} ({', '.join(sorted(set(names.values())))})\n"
    )
    print("| sweep | points run | training steps | share of the full sweep's | command wall s | points wall s | load |")
    print("|---|---|---|---|---|---|---|")
    steps = {}
    for label, rows in (("full", full), ("adaptive", adaptive)):
        done = [r for r in rows if r["status"] == "done"]
        steps[label] = sum(r["metrics"]["steps"] for r in done)
        span = max(r["finished_at"] for r in done) - min(r["started_at"] for r in done)
        t = timings[label]
        print(
            f"| {label} | {len(done)} of {len(rows)} | {steps[label]} | {steps[label] / steps['full']:.1%} | "
            f"{t['wall_s']:.0f} | {span:.0f} | {t['load_before']} -> {t['load_after']} |"
        )
    at_target = losses_at_target(full, names)
    best = min(at_target, key=lambda c: mean(at_target[c]))
    noise = pooled_sd(at_target)
    print("\nThe full sweep at the target (test loss, mean over seeds [seeds]):\n")
    for name in sorted(at_target, key=lambda c: mean(at_target[c])):
        print(f"- {name}: {mean(at_target[name]):.4f} {[round(x, 4) for x in at_target[name]]}")
    last = StageTask(open_store(adaptive_dir)).state()["stages"][-1]["result"]
    choice = last["choice"]
    gap = mean(at_target[choice]) - mean(at_target[best])
    same = all(np.allclose(r["metrics"]["test/loss"], f["metrics"]["test/loss"]) for r, f in pairs(adaptive, full))
    print(f"\nfull sweep's winner: {best}; adaptive choice: {choice} (P(best) {last['p_best']:.2f}, {last['stopped']})")
    seeds = len(SPEC["seeds"])
    print(
        f"true loss of the choice at the target: {mean(at_target[choice]):.4f}, {gap:+.4f} from the winner's; "
        f"between-seed noise at the target: pooled SD of a seed's loss {noise:.4f}, SD of a difference of two "
        f"{seeds}-seed means {noise * np.sqrt(2 / seeds):.4f}; the choice is within the noise: {gap <= noise}"
    )
    print(f"the adaptive sweep's points measured the same losses as the full sweep's: {same}")
    print("\nThe adaptive sweep's path:\n")
    for line in adaptive_lines(open_store(adaptive_dir)):
        print(f"    {line}")


def timed_sweep(spec: Path, sweep_dir: Path, workers: int, extra: list[str]) -> dict:
    """Run `ftscale sweep run` once into `sweep_dir` and record its wall time and the load (a sweep run before is
    read back with the times recorded then)."""
    record = sweep_dir / "timing.json"
    if record.is_file():
        return json.loads(record.read_text())
    command = [sys.executable, "-m", "ftscale.cli", "sweep", "run", str(spec), "--dir", str(sweep_dir)]
    command += ["--workers", str(workers), "--wandb", "off", *extra]
    load_before = f"{os.getloadavg()[0]:.1f}"
    start = time.perf_counter()
    subprocess.run(command, check=True)
    timing = {
        "wall_s": time.perf_counter() - start,
        "load_before": load_before,
        "load_after": f"{os.getloadavg()[0]:.1f}",
    }
    record.write_text(json.dumps(timing))
    return timing


def losses_at_target(rows: list[dict], names: dict[str, str]) -> dict[str, list[float]]:
    """Each candidate's seeds' test losses at the target Df."""
    found: dict[str, list[float]] = {}
    for row in rows:
        if row["id"] in names and row["factors"]["train_size"] == TARGET and row["status"] == "done":
            found.setdefault(names[row["id"]], []).append(row["metrics"]["test/loss"])
    return found


def pooled_sd(groups: dict[str, list[float]]) -> float:
    """The pooled standard deviation of the seeds' losses within each candidate."""
    squares = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in groups.values())
    dof = sum(len(v) - 1 for v in groups.values())
    return float(np.sqrt(squares / dof))


def pairs(adaptive: list[dict], full: list[dict]):
    """The adaptive sweep's done points with the full sweep's same points (same ids: same arguments)."""
    by_id = {r["id"]: r for r in full}
    return [(r, by_id[r["id"]]) for r in adaptive if r["status"] == "done"]


if __name__ == "__main__":
    main()
