"""Running a small graph of calls on a few processes: a finished call may add follow-up calls; the waiting call of
the lowest rank starts first."""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, NamedTuple


class Call(NamedTuple):
    """One call: its key in the results, its rank (lower starts first; ties in the order given), what to run."""

    key: Hashable
    rank: int
    fn: Callable
    args: tuple


FollowUps = Callable[[Hashable, Any], Iterable[Call]]  # (key, result) -> the calls that result makes possible


def run_calls(calls: Iterable[Call], follow_ups: FollowUps, workers: int = 1) -> dict[Hashable, Any]:
    """Every call's result (follow-ups' too) by key. With `workers` > 1 the calls run in that many spawned processes
    (spawned, not forked: the caller may hold threads, a Trainer's or W&B's), at most `workers` at a time so that
    the ranks hold; otherwise in this process. The results do not depend on `workers`."""
    order = itertools.count()
    waiting: list[tuple[int, int, Call]] = []
    results: dict[Hashable, Any] = {}

    def add(new: Iterable[Call]) -> None:
        for call in new:
            heapq.heappush(waiting, (call.rank, next(order), call))

    def finished(key: Hashable, result: Any) -> None:
        results[key] = result
        add(follow_ups(key, result))

    add(calls)
    if workers <= 1:
        while waiting:
            call = heapq.heappop(waiting)[2]
            finished(call.key, call.fn(*call.args))
        return results
    with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn")) as pool:
        running = {}
        while waiting or running:
            while waiting and len(running) < workers:
                call = heapq.heappop(waiting)[2]
                running[pool.submit(call.fn, *call.args)] = call.key
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished(running.pop(future), future.result())
    return results
