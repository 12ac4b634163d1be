"""Fit-speed benchmark: the common per-start recipe vs ftscale's fitter, plus fit and bootstrap timings.

(a) plain scipy L-BFGS-B with numeric gradients from every one of the 4,500 Chinchilla grid starts
(Besiroglu et al. 2024's recipe); (b) `scaling_laws.fit`; both with OpenBLAS on one thread. Both
minimise the summed log-Huber (delta 1e-3) of the additive law on the Epoch 2024 Chinchilla points
(5 highest losses dropped).
Then: a 500-point multiplicative fit and 1,000 bootstrap refits of the Chinchilla fit.
Last (alone with --demo-only): the end-of-sweep analysis of the demo sweep, synthetic: 3 methods (fmt over
model_size and pretrain_tokens; prompt_tuning and lora also over pet_size), each a two-stage fit and a
two-stage bootstrap (`bootstrap_two_stage`, --resamples per method, both stages per resample) on a
demo-shaped grid (3 model sizes, 4 pretraining budgets, 4 PET sizes, 5 finetuning sizes 40..1280) drawn
from a known law with 1% noise, with the demo's held-out rules; then the sweep's form table on the same laws,
one fit per form against the choice by cross-validation.
With --sweep DIR, only the whole end-of-sweep analysis (`fit_sweep`: every method's sharing and every law's form
chosen by cross-validation, the bootstraps, critical sizes, decisions, claims) of a finished sweep directory, as
`ftscale demo` runs it at its end; nothing is written. With --objective, only the speed of one objective call: the
yardstick of the machine's state that docs/benchmarks.md quotes beside its timings.

    python benchmarks/fit_speed.py [--data tests/fixtures/published] [--workers 2]
    python benchmarks/fit_speed.py --demo-only | --sweep DIR | --objective
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from ftscale.scaling_laws import (
    ADDITIVE,
    MULTIPLICATIVE,
    RECTIFIED_JOINT,
    Points,
    as_points,
    bootstrap,
    bootstrap_two_stage,
    compare_points,
    fit,
    fit_points,
)
from ftscale.scaling_laws.blas import single_threaded_blas
from ftscale.scaling_laws.external import chinchilla

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "published"

# The demo sweep's shape (configs/sweeps/demo.yaml): X values per axis, finetuning sizes, held-out rules.
DEMO_DF = np.geomspace(40, 1280, 5)
DEMO_X = {
    "model_size": np.array([1.2e6, 4.8e6, 1.9e7]),
    "pretrain_tokens": np.array([262144.0, 524288.0, 1048576.0, 2097152.0]),
    "pet_size": np.array([5.0, 10.0, 20.0, 40.0]),
}
DEMO_HELD_OUT = {
    "model_size": ["x=max", "df=max"],
    "pretrain_tokens": ["x=1048576", "df=max"],
    "pet_size": ["x=max", "df=max"],
}
FORMS = (MULTIPLICATIVE, ADDITIVE, RECTIFIED_JOINT)  # the sweep's form table (analysis/fit_sweep.py), refine 4
# Per method: beta, E, and alpha per axis (the paper's pattern: alpha_m > alpha_p, alpha_t tiny).
DEMO_LAWS = {
    "fmt": (0.16, 1.6, {"model_size": 0.35, "pretrain_tokens": 0.18}),
    "prompt_tuning": (0.05, 2.0, {"model_size": 0.3, "pretrain_tokens": 0.15, "pet_size": 0.01}),
    "lora": (0.08, 1.8, {"model_size": 0.32, "pretrain_tokens": 0.16, "pet_size": 0.02}),
}


def common_recipe(n: np.ndarray, d: np.ndarray, loss: np.ndarray, delta: float = 1e-3):
    """Every grid start, scipy defaults, finite-difference gradients; returns (best result, failures)."""
    ln, ld, ll = np.log(n), np.log(d), np.log(loss)

    def objective(p):
        a, alpha, b, beta, e = p
        pred = logsumexp([a - alpha * ln, b - beta * ld, np.full_like(ln, e)], axis=0)
        r = np.abs(ll - pred)
        return float(np.sum(np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))))

    best, failures = None, 0
    with single_threaded_blas():  # the same BLAS setting ftscale uses, so the comparison is fair
        for start in ADDITIVE.grid():
            res = minimize(objective, start, method="L-BFGS-B")
            failures += not res.success
            if best is None or res.fun < best.fun:
                best = res
    return best, failures


def demo_series(method: str, seed: int, noise: float = 0.01) -> dict[str, Points]:
    """One method's demo-shaped points per axis, from its known law (power term = E mid-grid) with noise."""
    beta, e, alphas = DEMO_LAWS[method]
    rng = np.random.default_rng(seed)
    out = {}
    for axis, alpha in alphas.items():
        x = DEMO_X[axis]
        a = e * np.exp(np.log(x).mean() * alpha + np.log(DEMO_DF).mean() * beta)
        xx, dd = (v.ravel() for v in np.meshgrid(x, DEMO_DF, indexing="ij"))
        clean = MULTIPLICATIVE.predict({"A": a, "alpha": alpha, "beta": beta, "E": e}, xx, dd)
        out[axis] = as_points(xx, dd, clean * (1 + noise * rng.standard_normal(clean.size)))
    return out


def demo_analysis(resamples: int, workers: int) -> None:
    """Time the demo's end-of-sweep bootstrap: every method's two-stage fit plus `resamples` resamples."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i, method in enumerate(DEMO_LAWS):
        t, c = time.perf_counter(), time.process_time()
        r = bootstrap_two_stage(
            demo_series(method, i),
            stage1=["model_size", "pretrain_tokens"],
            held_out=DEMO_HELD_OUT,
            n=resamples,
            seed=0,
            workers=workers,
        )
        beta, e = r.shared_intervals["beta"], r.shared_intervals["E"]
        took = f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s CPU (this process)"
        print(
            f"    {method:13s} {len(r.fits)} laws: {took}; scipy fallback {r.n_bootstrap_fallback}, "
            f"unconverged {r.n_bootstrap_failed},"
            f" redrawn {r.n_bootstrap_redrawn}; 95% beta [{beta[0]:.3f}, {beta[1]:.3f}], E [{e[0]:.3f}, {e[1]:.3f}]"
        )
    print(
        f"demo analysis, {resamples} resamples per law, 8 laws ({workers} worker(s)): "
        f"{time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU (includes the point fits); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    form_choice()


def form_choice() -> None:
    """Time the sweep's form table on the same 8 laws: each form fitted once (a ranking on the held-out points,
    as before) against the choice by cross-validation (each form also refitted on every fold)."""
    laws = [(m, axis, pts) for i, m in enumerate(DEMO_LAWS) for axis, pts in demo_series(m, i).items()]
    for label, run in (
        ("one fit per form (before)", lambda pts, rules: [fit_points(f, pts, held_out=rules, refine=4) for f in FORMS]),
        ("cross-validated choice", lambda pts, rules: compare_points(pts, FORMS, held_out=rules, refine=4)),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        for _, axis, pts in laws:
            run(pts, DEMO_HELD_OUT[axis])
        print(
            f"form table, {len(FORMS)} forms x {len(laws)} laws, {label}: {time.perf_counter() - wall:.2f} s wall, "
            f"{time.process_time() - cpu:.2f} s CPU; load average {os.getloadavg()[0]:.2f}"
        )


def sweep_analysis(sweep_dir: Path, resamples: int, workers: int) -> None:
    """Time `fit_sweep` on the done points of a finished sweep, with its spec's held-out rules and law options."""
    from ftscale.analysis import fit_sweep
    from ftscale.reports.finalize import sweep_inputs

    spec, points, held_out, options = sweep_inputs(sweep_dir)
    wall = time.perf_counter()
    results = fit_sweep(spec["name"], "", points, held_out, resamples, workers=workers, options=options)
    print(
        f"end-of-sweep analysis of {sweep_dir} ({len(points)} points, {len(results.laws)} laws, {resamples} resamples "
        f"per method, {workers} worker(s)): {time.perf_counter() - wall:.1f} s wall; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def objective_speed(calls: int = 20_000) -> None:
    """Microseconds per objective-and-gradient call (the multiplicative law on 6 points): a yardstick of the
    machine's state, read beside a timing of anything else."""
    from ftscale.scaling_laws.objective import Objective

    lx, ldf = np.log([1e6, 1e6, 1e6, 3e6, 3e6, 3e6]), np.log([20.0, 63, 202, 20, 63, 202])
    objective = Objective(MULTIPLICATIVE, lx, ldf, np.array([3.1, 2.9, 2.7, 3.0, 2.8, 2.6]))
    theta = np.array([1.8, 0.05, 0.02, -2.0])
    wall = time.perf_counter()
    for _ in range(calls):
        objective.value_and_grad(theta)
    print(f"objective and gradient: {(time.perf_counter() - wall) / calls * 1e6:.1f} us a call")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the folder holding chinchilla_epoch2024/")
    ap.add_argument("--workers", type=int, default=2, help="processes for the bootstrap (default 2)")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ap.add_argument("--demo-only", action="store_true", help="only the demo's two-stage bootstrap timing")
    ap.add_argument("--sweep", type=Path, help="only the end-of-sweep analysis of this finished sweep directory")
    ap.add_argument("--objective", action="store_true", help="only the objective's speed (the machine's state)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    if args.objective:
        objective_speed()
        return
    if args.sweep is not None:
        sweep_analysis(args.sweep, args.resamples, args.workers)
        return
    if args.demo_only:
        demo_analysis(args.resamples, args.workers)
        return
    pts = chinchilla(args.data)

    t = time.perf_counter()
    base, failures = common_recipe(pts.x, pts.df, pts.loss)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    ours = fit(ADDITIVE, pts.x, pts.df, pts.loss)
    t_ours = time.perf_counter() - t
    print(f"(a) common recipe: {t_base:.1f} s, summed Huber {base.fun:.12g}, {failures}/4500 starts unconverged")
    print("    params", ADDITIVE.to_natural(base.x))
    print(f"(b) ftscale:       {t_ours:.3f} s, summed Huber {ours.objective:.12g}, converged {ours.converged}")
    print("    params", ours.params)
    print(f"    |difference| {abs(base.fun - ours.objective):.2e}; speed-up {t_base / t_ours:.0f}x")

    rng = np.random.default_rng(0)
    x = np.repeat(np.geomspace(1e8, 1e10, 20), 25)
    df = np.tile(np.geomspace(1e3, 1e6, 25), 20)
    truth = {"A": 300.0, "alpha": 0.3, "beta": 0.15, "E": 0.8}
    loss = MULTIPLICATIVE.predict(truth, x, df) * (1 + 0.01 * rng.standard_normal(x.size))
    t = time.perf_counter()
    mult = fit(MULTIPLICATIVE, x, df, loss)
    print(f"500-point multiplicative fit: {time.perf_counter() - t:.3f} s, converged {mult.converged}")

    t = time.perf_counter()
    boot = bootstrap(ADDITIVE, pts.x, pts.df, pts.loss, n=args.resamples, seed=0, workers=args.workers)
    t_boot = time.perf_counter() - t
    print(
        f"{args.resamples} bootstrap refits ({args.workers} workers): {t_boot:.1f} s "
        f"(includes the full fit), {boot.n_bootstrap_failed} unconverged"
    )
    for p, (lo, hi) in boot.intervals.items():
        print(f"    {p:6s} 95% [{lo:.5g}, {hi:.5g}]")
    demo_analysis(args.resamples, args.workers)


if __name__ == "__main__":
    main()
