"""Keep BLAS single-threaded while fitting: its threads cost far more than they save here.

L-BFGS-B's tiny BLAS calls, spread over threads that compete with other processes (or with the
bootstrap's own workers), measured 5-25x slower on a 2-core machine (one unlimited bootstrap run took
33 s where the limited one took 1.2 s). The limit is threadpoolctl's, which for OpenBLAS's pthreads
build is process-wide: while a block runs, every thread of the process gets one BLAS thread. Only one
thread at a time controls it (threadpoolctl's rule): a block entered in a second thread while the first
one's is active changes nothing, and when the first block ends the previous counts come back even if
the second is still fitting (slower, never wrong). Worker processes each have their own limit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    # Scanning the loaded libraries costs ~2 ms, too much per fit; numpy's and scipy's BLAS are loaded
    # by the time the first fit runs (the fitter imports scipy.optimize).
    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Within the block BLAS uses one thread (process-wide); the previous counts come back after it."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
