"""Where one demo point's time goes: setup, pretraining cache hit, tokenization, training, validation, test,
generation metrics, transfer tests, W&B logging and the store, timed in one process.

    FTSCALE_CACHE=/tmp/cache python benchmarks/demo_profile.py                       # a demo_quick point
    python benchmarks/demo_profile.py --spec configs/sweeps/demo.yaml --method lora --train-size max
    python benchmarks/demo_profile.py --repeat 2 --json out.json                     # a second, warm point

The point runs exactly as the sweep runner runs it (`sweeps.executors.InProcess` with the point's arguments,
its `ScalingLawCallback`, W&B offline) in a throwaway sweep directory. Each phase is measured by wrapping the
function that does it with a wall-clock timer (no cProfile, whose overhead on this Python-heavy loop would
distort the split). Phases nest: `validation` runs inside `fit loop`, `generation` inside `test`, and `transfer
tests` holds test loops of its own (they are counted there, not under `test`); `training` is the fit loop less
its validation. The first point of a process also pays the imports and the world's first tokenization; use
`--repeat 2` to see a warm point (the runner pays imports once per process, the tokenized splits once per cache).

Pretraining is paid once per ladder and cache; `--pretrain` times `ftscale pretrain` of the spec's ladder here
(from an empty cache that is the cost of a first demo run). Load averages are printed with every timing:
on a shared machine they matter as much as the numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_ACTIVE: list[str] = []  # phases running now (a transfer test's loops are not counted as `test` as well)


def loadavg() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "?"


@contextmanager
def phase(name: str):
    start = time.perf_counter()
    _ACTIVE.append(name)
    try:
        yield
    finally:
        _ACTIVE.pop()
        TOTALS[name] += time.perf_counter() - start
        CALLS[name] += 1


def wrap(owner, attr: str, name, skip_inside: tuple[str, ...] = ()) -> None:
    """Time every call of `owner.attr` under `name` (a string, or a function of the call's self giving one)."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        if any(p in _ACTIVE for p in skip_inside):
            return original(*args, **kwargs)
        label = name(args[0]) if callable(name) else name
        with phase(label):
            return original(*args, **kwargs)

    setattr(owner, attr, timed)


def instrument() -> None:
    import wandb
    from lightning.pytorch import Trainer
    from lightning.pytorch.loggers import WandbLogger
    from lightning.pytorch.loops.evaluation_loop import _EvaluationLoop
    from lightning.pytorch.loops.fit_loop import _FitLoop

    import ftscale.datamodules.finetune as finetune
    from ftscale.callbacks import ScalingLawCallback
    from ftscale.callbacks.generation_metrics import GenerationMetrics
    from ftscale.cli.lightning import FtscaleCLI
    from ftscale.datamodules import FinetuneDataModule
    from ftscale.lightning_modules import FinetuneModule

    wrap(FinetuneDataModule, "setup", "data setup (world, subsets, tokenization)", skip_inside=("transfer tests",))
    wrap(finetune, "tokenize_split", "  of which tokenization (cache misses)")
    wrap(
        FinetuneModule,
        "configure_model",
        "backbone load + adapt (ladder checkpoint: cache hit)",
        skip_inside=("test loop (own task)", "transfer tests"),
    )
    wrap(_FitLoop, "run", "fit loop (training + validation)")

    def loop_label(loop) -> str:
        if loop.trainer.state.fn == "fit":
            return "  of which validation"
        if str(getattr(loop.trainer.lightning_module, "test_prefix", "test")).startswith(("transfer", "retention")):
            return "  of which transfer and retention test loops"
        return "test loop (own task)"

    wrap(_EvaluationLoop, "run", loop_label)
    wrap(GenerationMetrics, "on_test_batch_end", "  generation (in test loops)")
    wrap(GenerationMetrics, "on_test_epoch_end", "  generation (in test loops)")
    wrap(FtscaleCLI, "test_transfer", "transfer tests")
    wrap(Trainer, "save_checkpoint", "  checkpoint saves (inside the fit loop)")
    wrap(wandb, "init", "  W&B init (offline; inside the fit loop, at the first log)")
    wrap(wandb.sdk.wandb_run.Run, "finish", "W&B finish")
    wrap(WandbLogger, "log_metrics", "  W&B log_metrics (inside the loops)")
    for hook in ("setup", "on_test_end", "on_exception", "teardown"):
        wrap(ScalingLawCallback, hook, "  store (claim at setup; record in on_test_end, inside the test loop)")


def pick_point(spec, method: str | None, axis: str | None, train_size: str):
    points = [p for p in spec.points() if p.method != "base"]
    if method:
        points = [p for p in points if p.method == method]
    if axis:
        points = [p for p in points if axis in p.axes]
    sizes = sorted({p.factors["train_size"] for p in points})
    want = {"max": sizes[-1], "min": sizes[0], "mid": sizes[len(sizes) // 2]}.get(train_size)
    want = int(train_size) if want is None else want
    points = [p for p in points if p.factors["train_size"] == want]
    # The default point (on the most axes) is the one every axis shares.
    return max(points, key=lambda p: len(p.axes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="configs/sweeps/demo_quick.yaml")
    parser.add_argument("--method", default="fmt")
    parser.add_argument("--axis", default=None, help="a point on this axis (default: the default point)")
    parser.add_argument("--train-size", default="mid", help="min, mid, max or a number")
    parser.add_argument("--repeat", type=int, default=1, help="run the same point again, warm, in this process")
    parser.add_argument("--pretrain", action="store_true", help="also time the ladder's pretraining (cache miss)")
    parser.add_argument("--json", type=Path, help="write the phases here")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")

    start = time.perf_counter()
    from ftscale.cli.main import quiet_libraries
    from ftscale.cli.sweep import in_process
    from ftscale.sweeps.runner import _job, prepare_sweep, pretrain_spec
    from ftscale.sweeps.store import lease_owner

    quiet_libraries()
    imports = time.perf_counter() - start
    instrument()
    report: dict = {"load_before": loadavg(), "imports_s": imports, "runs": []}

    if args.pretrain:
        from ftscale.sweeps.spec import load_spec

        t = time.perf_counter()
        pretrain_spec(load_spec(args.spec))
        report["pretrain_s"] = time.perf_counter() - t
        print(f"pretraining (cache miss unless cached): {report['pretrain_s']:.1f} s, load {loadavg()}")

    for run in range(args.repeat):
        TOTALS.clear()
        CALLS.clear()
        with tempfile.TemporaryDirectory(prefix="demo-profile-") as tmp:
            t = time.perf_counter()
            spec, target = prepare_sweep(args.spec, Path(tmp) / "sweep", wandb="offline")
            spec_s = time.perf_counter() - t
            t = time.perf_counter()
            pretrain_spec(spec)  # what the runner does first: a cache hit once the ladder is pretrained
            hit_s = time.perf_counter() - t
            point = pick_point(spec, args.method, args.axis, args.train_size)
            store = target.open()
            owner = lease_owner()
            row = store.claim_point(point.id, owner, 600.0)
            job = _job(row, target, owner)
            t = time.perf_counter()
            in_process()(job)
            total = time.perf_counter() - t
            status = store.get(point.id)
            steps = _steps(Path(tmp) / "sweep" / "points" / point.id)
        phases = dict(sorted(TOTALS.items(), key=lambda kv: -kv[1]))
        fit = phases.get("fit loop (training + validation)", 0.0)
        val = phases.get("  of which validation", 0.0)
        phases["  of which training (fit loop - validation)"] = fit - val
        top = [k for k in phases if not k.startswith("  ")]  # phases that never run inside one another
        rest = total - sum(phases[k] for k in top)
        result = {
            "run": run + 1,
            "point": point.id,
            "method": point.method,
            "axes": list(point.axes),
            "factors": {k: point.factors[k] for k in ("model_size", "pretrain_tokens", "pet_size", "train_size")},
            "status": status["status"],
            "steps": steps,
            "spec_and_store_s": spec_s,
            "pretrain_cache_hit_s": hit_s,
            "point_total_s": total,
            "phases_s": phases,
            "calls": dict(CALLS),
            "other_s (CLI parse, trainer build, loggers, teardown)": rest,
            "load_after": loadavg(),
        }
        report["runs"].append(result)
        print(
            f"\nrun {run + 1}: point {point.id} {point.method} {point.factors['model_size']} "
            f"Df={point.factors['train_size']} ({status['status']}, {steps} steps), load {loadavg()}"
        )
        print(f"  spec + store setup          {spec_s:7.2f} s")
        print(f"  pretraining (cache hit)     {hit_s:7.2f} s")
        print(f"  point, in-process total     {total:7.2f} s")
        for name, seconds in phases.items():
            print(f"  {name:<60} {seconds:7.2f} s  ({CALLS.get(name.strip(), CALLS.get(name, ''))} calls)")
        print(f"  other (CLI parse, trainer build, loggers, teardown) {rest:7.2f} s")
    print(f"\nimports (once per runner process): {imports:.1f} s; load before {report['load_before']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _steps(point_dir: Path) -> int | None:
    """Global steps of the run (the last `step` in its metrics.csv), if Lightning's CSV logger wrote one."""
    steps = None
    for csv in point_dir.rglob("metrics.csv"):
        import csv as csv_module

        with csv.open() as f:
            for row in csv_module.DictReader(f):
                if row.get("step"):
                    steps = max(steps or 0, int(float(row["step"])))
    return steps


if __name__ == "__main__":
    main()
