"""Finetuning-set sizes and the nested, language-stratified subsets of a training split."""

import heapq
import zlib
from collections.abc import Sequence

import numpy as np


def log_spaced_sizes(minimum: int, maximum: int, num: int) -> list[int]:
    """About `num` log-spaced integer sizes from minimum to maximum (sorted, unique, both ends included)."""
    if not 1 <= minimum <= maximum:
        raise ValueError(f"sizes need 1 <= minimum <= maximum, got minimum={minimum}, maximum={maximum}")
    if num < 1 or (num == 1 and minimum != maximum):
        raise ValueError(f"num={num} sizes cannot span {minimum}..{maximum}; use num >= 2")
    sizes = np.rint(np.geomspace(minimum, maximum, num)).astype(int)
    # Rounding can collide at the small end, so fewer than `num` sizes may come back.
    return sorted({minimum, maximum, *sizes.tolist()})


def _interleave(counts: list[int]) -> list[int]:
    """An order of group labels in which every prefix holds each group's share within one item.

    Item j (1-based) of a group with c of the N items may come at step k only once k * c / N > j - 1
    (it does not overshoot the ceiling) and must come by step ceil(j * N / c) (the floor is met).
    Earliest deadline first meets every deadline when any order does, and one does (Tijdeman 1980).
    """
    total = sum(counts)
    taken = [0] * len(counts)
    released = [False] * len(counts)  # whether the group's next item waits in the heap
    waiting: list[tuple[int, int]] = []  # (deadline, group)
    order = []
    for step in range(1, total + 1):
        for group, count in enumerate(counts):
            if not released[group] and taken[group] < count and taken[group] * total < step * count:
                deadline = -(-(taken[group] + 1) * total // count)
                heapq.heappush(waiting, (deadline, group))
                released[group] = True
        _, group = heapq.heappop(waiting)
        taken[group] += 1
        released[group] = False
        order.append(group)
    return order


def nested_subset(languages: Sequence[str], size: int, seed: int) -> list[int]:
    """Indices of `size` examples of a split whose example languages are `languages`.

    Each language's examples are shuffled by their own seeded permutation and the languages interleaved
    so that every prefix keeps each language's share of the split within one example. The subset of
    size n is the first n of that order, so for one seed smaller subsets are nested in larger ones.
    """
    if not 1 <= size <= len(languages):
        raise ValueError(
            f"train_size={size} is out of range: the split has {len(languages)} examples, so use "
            f"1 <= train_size <= {len(languages)}"
        )
    groups = sorted(set(languages))
    members = {lang: [] for lang in groups}
    for index, lang in enumerate(languages):
        members[lang].append(index)
    for lang in groups:
        # Seeded by the language's name, so adding a language does not reshuffle the others.
        rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
        members[lang] = np.asarray(members[lang])[rng.permutation(len(members[lang]))].tolist()
    order = _interleave([len(members[lang]) for lang in groups])
    cursor = dict.fromkeys(range(len(groups)), 0)
    subset = []
    for group in order[:size]:
        subset.append(members[groups[group]][cursor[group]])
        cursor[group] += 1
    return subset
