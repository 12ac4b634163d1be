"""Store benchmark: claims per second with 1, 4 and 16 concurrent claimers on SQLite and PostgreSQL.

Each claimer is a process that claims a point and finishes it with a small metrics dict until none is left;
the rate counts claim+finish pairs over the wall time of the whole drain. PostgreSQL is a throwaway local
server (tests/postgres.py) unless `--postgres URL` names one. Then: the store's share of a 10,000-point sweep
whose points take a minute.

    python benchmarks/store.py [--points 400] [--claimers 1 4 16] [--postgres postgresql://USER@HOST/DB]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ftscale.sweeps.store import open_store
from ftscale.sweeps.store.url import with_sweep

ROOT = Path(__file__).resolve().parents[1]
METRICS = {"test/loss": 1.234, "test/ppl": 3.43, "val/loss": 1.2, "steps": 80, "tokens_seen": 123456, "mfu": 0.31}
SWEEP_POINTS, POINT_S = 10_000, 60.0
# Besides its claim and finish, a point costs the runner a read of its row and a heartbeat every 40 s.
CALLS_PER_POINT = 4


@dataclass(frozen=True)
class Point:
    id: str
    method: str = "lora"
    axes: tuple[str, ...] = ("model_size",)
    factors: dict = field(default_factory=lambda: {"model_size": "s", "train_size": 640})
    args: tuple[str, ...] = ("fit", "--trainer.max_steps", "80")


def claimer(url: str, owner: str, start, out) -> None:
    store = open_store(url)
    start.wait()
    done = 0
    while (row := store.claim(owner, lease_s=120)) is not None:
        store.finish(row["id"], owner, METRICS)
        done += 1
    out.put(done)


def measure(url: str, points: int, claimers: int) -> float:
    """Claim+finish pairs per second while `claimers` processes drain `points` points."""
    open_store(url).add_points([Point(f"p{i:05d}") for i in range(points)])
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(claimers + 1), context.Queue()
    processes = [context.Process(target=claimer, args=(url, f"c{i}", start, out)) for i in range(claimers)]
    for process in processes:
        process.start()
    start.wait()  # every claimer has imported and opened the store
    began = time.perf_counter()
    finished = sum(out.get(timeout=600) for _ in processes)
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    assert finished == points and open_store(url).is_complete()
    return points / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--claimers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--postgres", help="a PostgreSQL database URL (default: start a throwaway local server)")
    args = parser.parse_args()
    with ExitStack() as stack:
        postgres = args.postgres
        if postgres is None:
            sys.path.insert(0, str(ROOT))  # tests/postgres.py starts the throwaway server
            from tests.postgres import postgres_server

            postgres = stack.enter_context(postgres_server())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print(f"{'backend':<11} {'claimers':>8} {'claims/s':>9} {'ms/claim':>9} {'store share of a 1-min point':>29}")
        for backend in ("sqlite", "postgresql"):
            for claimers in args.claimers:
                sweep = f"bench-{uuid.uuid4().hex[:8]}"
                url = f"sqlite:///{scratch / sweep}.sqlite" if backend == "sqlite" else with_sweep(postgres, sweep)
                rate = measure(url, args.points, claimers)
                # A claimer's own wait per claim+finish: with others contending, each waits its turn.
                latency_s = claimers / rate
                share = CALLS_PER_POINT / 2 * latency_s / POINT_S
                print(f"{backend:<11} {claimers:>8} {rate:>9.0f} {latency_s * 1000:>9.1f} {share:>28.4%}")
                serial_s = SWEEP_POINTS * CALLS_PER_POINT / 2 / rate
                print(f"{'':<21}10,000-point sweep: {serial_s:.0f} s of store time in all, when served one at a time")


if __name__ == "__main__":
    main()
