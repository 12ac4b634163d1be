"""Fit-speed benchmark: the common per-start recipe vs ftscale's fitter, plus fit and bootstrap timings.

(a) plain scipy L-BFGS-B with numeric gradients from every one of the 4,500 Chinchilla grid starts
(Besiroglu et al. 2024's recipe); (b) `scaling_laws.fit`; both with OpenBLAS on one thread. Both
minimise the summed log-Huber (delta 1e-3) of the additive law on the Epoch 2024 Chinchilla points
(5 highest losses dropped).
Then: a 500-point multiplicative fit and 1,000 bootstrap refits of the Chinchilla fit.

    python benchmarks/fit_speed.py [--data ../shared/data/external] [--workers 2]
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

from ftscale.scaling_laws import ADDITIVE, MULTIPLICATIVE, bootstrap, fit
from ftscale.scaling_laws.blas import single_threaded_blas
from ftscale.scaling_laws.external import chinchilla

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "external"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared external-data folder")
    ap.add_argument("--workers", type=int, default=2, help="processes for the bootstrap (default 2)")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
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


if __name__ == "__main__":
    main()
