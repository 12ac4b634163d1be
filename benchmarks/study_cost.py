"""What a sweep costs on this machine, from CPU seconds of single-threaded runs (which a shared machine's load
affects far less than wall time), and the wall time it implies on N idle cores.

    FTSCALE_CACHE=/tmp/cache python benchmarks/study_cost.py                 # configs/sweeps/study.yaml
    python benchmarks/study_cost.py --spec configs/sweeps/demo.yaml --workers 2 --json cost.json

1. Pretraining: each ladder size the spec uses that is not cached yet is pretrained here, one after the other on one
   torch thread, and its CPU seconds are recorded (cached sizes are reported as such, with no time).
2. Points: a sample runs in this process exactly as a runner runs it (`ftscale fit` with its `ScalingLawCallback`,
   W&B offline): every method on every model size at the smallest and the largest finetuning size (first subset
   seed), each PET method at its largest PET size, and one untrained-backbone point. For each method and size the
   two give `CPU = fixed + per step x steps`; every point of the spec is then costed at its step cap (an upper
   bound: early stopping only ends points sooner). `--sizes` times only some model sizes; the others are costed
   as the next larger size timed (an upper bound again).
3. The estimate: pretraining side by side on `--workers` processes (the largest size alone is the critical path),
   then the points' CPU seconds over `--workers` runners. The end-of-sweep fit is not measured here.

Single-threaded CPU seconds still grow somewhat with the machine's load (caches and memory bandwidth are shared),
so on a busy machine the estimate errs long. Load averages are printed with every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path


def loadavg() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "?"


def measure_pretraining(spec) -> dict[str, dict]:
    """CPU and wall seconds of each ladder size the spec uses that was not cached (one size at a time)."""
    from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder, read_manifest

    config = load_pretrain_config(spec.ladder)
    out = {}
    for size in spec.ladder_sizes:
        one = replace(config, sizes=[size])
        if read_manifest(one, size) is not None:
            out[size] = {"cached": True}
            continue
        load, cpu, wall = loadavg(), time.process_time(), time.perf_counter()
        pretrain_ladder(one)
        out[size] = {
            "cpu_s": time.process_time() - cpu,
            "wall_s": time.perf_counter() - wall,
            "load": [load, loadavg()],
        }
        print(f"pretraining {size}: {out[size]['cpu_s']:.1f} CPU s, {out[size]['wall_s']:.1f} s wall, load {loadavg()}")
    return out


def sample(spec, sizes: list[str]) -> list:
    """The points that are timed: each method x model size (of `sizes`) at the smallest and largest Df, each PET
    method at its largest PET size (largest Df), and one base point; all on the first subset seed."""
    points = spec.points()
    low, high, seed = min(spec.train_sizes), max(spec.train_sizes), spec.seeds[0]
    chosen = {}
    for p in points:
        f = p.factors
        if p.method == "base":
            chosen.setdefault("base", p)
        elif (
            f["seed"] == seed and f["train_size"] in (low, high) and "model_size" in p.axes and f["model_size"] in sizes
        ):
            chosen[(p.method, f["model_size"], f["train_size"])] = p
        elif f["seed"] == seed and f["train_size"] == high and p.axes == ("pet_size",):
            method = next(m for m in spec.methods if m.name == p.method)
            if f["pet_size"] == max(method.pet_sizes):
                chosen[(p.method, "pet-max", high)] = p
    return list(chosen.values())


def run_point(spec_path: str, point) -> dict:
    """Run one point as a runner does, in a throwaway sweep directory; its CPU and wall seconds and steps."""
    from ftscale.cli.sweep import in_process
    from ftscale.sweeps.runner import _job, prepare_sweep
    from ftscale.sweeps.store import lease_owner

    with tempfile.TemporaryDirectory(prefix="study-cost-") as tmp:
        _, target = prepare_sweep(spec_path, Path(tmp) / "sweep", wandb="offline")
        store, owner = target.open(), lease_owner()
        job = _job(store.claim_point(point.id, owner, 3600.0), target, owner)
        load, cpu, wall = loadavg(), time.process_time(), time.perf_counter()
        in_process()(job)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        row = store.get(point.id)
    steps = (row.get("metrics") or {}).get("steps")
    return {"status": row["status"], "cpu_s": cpu, "wall_s": wall, "steps": steps, "load": [load, loadavg()]}


def estimate(spec, timed: dict, workers: int) -> dict:
    """CPU seconds of every point from the timed sample (fixed + per step x step cap), and their total."""
    batch = {m.name: spec.batch_size_of(m) for m in spec.methods}
    low, high = min(spec.train_sizes), max(spec.train_sizes)

    def cap(method: str, train_size: int) -> int:
        return spec.recipe.steps(train_size, batch[method]) if spec.recipe else spec.max_steps

    def line(a: dict, b: dict) -> tuple[float, float]:  # fixed, per step
        per_step = (b["cpu_s"] - a["cpu_s"]) / max(b["steps"] - a["steps"], 1)
        return a["cpu_s"] - per_step * a["steps"], per_step

    models = {(m, size): line(timed[(m, size, low)], timed[(m, size, high)])
              for key in timed if key != "base" for (m, size, df) in [key] if df == low}  # fmt: skip
    params = {b.model_size: b.counts.non_embedding for b in spec.size_axis}
    timed_sizes = sorted({size for _, size in models}, key=params.get)

    def timed_size(size: str) -> str:  # itself, else the next larger size timed, else the largest
        return next((t for t in timed_sizes if params[t] >= params[size]), timed_sizes[-1])

    total, by_method = 0.0, defaultdict(float)
    for p in spec.points():
        f = p.factors
        if p.method == "base":
            cost = timed["base"]["cpu_s"]
        else:
            fixed, per_step = models[(p.method, timed_size(f["model_size"]))]
            pet_max = timed.get((p.method, "pet-max", high))
            if p.axes == ("pet_size",) and pet_max is not None:
                # Off the default PET size: costed per step as the largest PET size (an upper bound).
                per_step = max(per_step, (pet_max["cpu_s"] - fixed) / max(pet_max["steps"], 1))
            cost = fixed + per_step * cap(p.method, f["train_size"])
        total += cost
        by_method[p.method] += cost
    return {"points": len(spec.points()), "points_cpu_s": total, "by_method_cpu_s": dict(by_method),
            "points_wall_s_on_workers": total / workers}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="configs/sweeps/study.yaml")
    parser.add_argument("--workers", type=int, default=2, help="runner processes of the estimate (default 2)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--sizes", nargs="+", help="time only these model sizes (default: every size of the axis)")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    import torch

    from ftscale.cli.main import quiet_libraries
    from ftscale.sweeps.spec import load_spec

    torch.set_num_threads(1)
    quiet_libraries()
    spec = load_spec(args.spec)
    report: dict = {"spec": args.spec, "load_before": loadavg(), "pretraining": measure_pretraining(spec)}
    timed = {}
    points = sample(spec, args.sizes or list(spec.model_sizes))
    run_point(args.spec, points[0])  # untimed: the first point of a process also tokenizes the world's splits
    for point in points:
        f = point.factors
        where = "pet-max" if point.axes == ("pet_size",) else f["model_size"]
        key = "base" if point.method == "base" else (point.method, where, f["train_size"])
        timed[key] = run_point(args.spec, point)
        t = timed[key]
        print(
            f"{key}: {t['cpu_s']:.1f} CPU s, {t['steps']} steps, {t['wall_s']:.1f} s wall, load {loadavg()}", flush=True
        )
    report["timed_points"] = {json.dumps(k): v for k, v in timed.items()}
    report["estimate"] = estimate(spec, timed, args.workers)
    pretrain = [v["cpu_s"] for v in report["pretraining"].values() if "cpu_s" in v]
    if pretrain:
        report["estimate"]["pretraining_wall_s_on_workers"] = max(max(pretrain), sum(pretrain) / args.workers)
    print(json.dumps(report["estimate"], indent=2))
    print(f"load after: {loadavg()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
