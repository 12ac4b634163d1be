"""Finetuning-set sizes and the nested, language-stratified subsets of a training split."""

import heapq
import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ftscale.errors import InputError


def log_spaced_sizes(minimum: int, maximum: int, num: int) -> list[int]:
    """About `num` log-spaced integer sizes from minimum to maximum (sorted, unique, both ends included)."""
    if not 1 <= minimum <= maximum:
        raise InputError(f"sizes need 1 <= minimum <= maximum, got minimum={minimum}, maximum={maximum}")
    if num < 1 or (num == 1 and minimum != maximum):
        raise InputError(f"num={num} sizes cannot span {minimum}..{maximum}; use num >= 2")
    sizes = np.rint(np.geomspace(minimum, maximum, num)).astype(int)
    # Rounding can collide at the small end, so fewer than `num` sizes may come back.
    return sorted({minimum, maximum, *sizes.tolist()})


def _interleave(counts: list[int], steps: int) -> np.ndarray:
    """The first `steps` group labels of an order in which every prefix holds each group's share within one item.

    Item j (1-based) of a group with c of the N items may come at step k only once k * c / N > j - 1
    (it does not overshoot the ceiling) and must come by step ceil(j * N / c) (the floor is met).
    Earliest deadline first meets every deadline when any order does, and one does (Tijdeman 1980); the
    schedule is greedy, so its first `steps` labels do not depend on how far it would go.
    """
    if len(counts) == 1:
        return np.zeros(steps, dtype=np.int64)
    total = sum(counts)
    taken = [0] * len(counts)
    released = [False] * len(counts)  # whether the group's next item waits in the heap
    waiting: list[tuple[int, int]] = []  # (deadline, group)
    order = np.empty(steps, dtype=np.int64)
    for step in range(1, steps + 1):
        for group, count in enumerate(counts):
            if not released[group] and taken[group] < count and taken[group] * total < step * count:
                deadline = -(-(taken[group] + 1) * total // count)
                heapq.heappush(waiting, (deadline, group))
                released[group] = True
        _, group = heapq.heappop(waiting)
        taken[group] += 1
        released[group] = False
        order[step - 1] = group
    return order


def nested_subset(languages: Sequence[str] | pa.Array | pa.ChunkedArray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` examples of a split whose example languages are `languages` (a list or an Arrow column).

    Each language's examples are shuffled by their own seeded permutation and the languages interleaved
    so that every prefix keeps each language's share of the split within one example. The subset of
    size n is the first n of that order, so for one seed smaller subsets are nested in larger ones.
    """
    if not 1 <= size <= len(languages):
        raise InputError(
            f"train_size={size} is out of range: the split has {len(languages)} examples, so use "
            f"1 <= train_size <= {len(languages)}"
        )
    # Each example's group as an integer, in one vectorised pass (no Python loop over a large split).
    column = languages if isinstance(languages, pa.Array | pa.ChunkedArray) else pa.array(languages, pa.string())
    groups = sorted(pc.unique(column).to_pylist())
    # 4-byte indices where they fit: a 25M-example split's permutation takes 100 MB, not 200.
    index = np.int32 if len(column) < 2**31 else np.int64
    if len(groups) == 1:  # every index is a member: a large one-language split needs no grouping arrays
        members = [np.arange(len(column), dtype=index)]
    else:
        codes = pc.index_in(column, value_set=pa.array(groups, column.type)).to_numpy()
        members = [np.flatnonzero(codes == code).astype(index) for code in range(len(groups))]
    for group, lang in enumerate(groups):
        # Seeded by the language's name, so adding a language does not reshuffle the others. Shuffling in place
        # draws what `members[rng.permutation(n)]` draws (the same order) without a second array.
        np.random.default_rng([seed, zlib.crc32(lang.encode())]).shuffle(members[group])
    order = _interleave([len(m) for m in members], size)
    subset = np.empty(size, dtype=np.int64)
    for group, items in enumerate(members):
        # The k-th pick of a group is its k-th shuffled member.
        where = np.flatnonzero(order == group)
        subset[where] = items[: len(where)]
    return subset
