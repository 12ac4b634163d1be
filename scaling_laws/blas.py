"""Keep OpenBLAS single-threaded while fitting: its threads cost far more than they save here.

L-BFGS-B's tiny BLAS calls, spread over threads that compete with other processes (or with the
bootstrap's own workers), measured 5-25x slower on a 2-core machine. OpenBLAS's thread-local
setter changes only the calling thread and is restored afterwards; elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@functools.cache
def _openblas() -> tuple[ctypes.CDLL, ...]:
    """The OpenBLAS libraries loaded in this process (numpy's and scipy's), found via /proc/self/maps."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return ()
    paths = {line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()}
    libs = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_set_num_threads_local.argtypes = [ctypes.c_int]
            libs.append(lib)
        except (OSError, AttributeError):
            continue
    return tuple(libs)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Within the block, OpenBLAS uses one thread in this thread; the previous count is restored."""
    libs = _openblas()
    previous = [lib.openblas_set_num_threads_local(1) for lib in libs]
    try:
        yield
    finally:
        for lib, n in zip(libs, previous, strict=True):
            lib.openblas_set_num_threads_local(n)
