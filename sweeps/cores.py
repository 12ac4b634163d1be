"""CPU cores: how many this process may use, and how several processes share them."""

import os


def available_cpus() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of `workers` processes sharing this machine's cores: more threads than cores make
    every process wait on the others (small models on a few cores train several times slower)."""
    return max(1, available_cpus() // workers)
