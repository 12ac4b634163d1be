"""single_threaded_blas: one BLAS thread inside, the previous count back after, also across threads.

The count to come back to is the machine's (2 on a 2-core machine; with 1 the restore checks are moot).
It is not set with threadpoolctl here: the thread that holds a threadpoolctl block controls OpenBLAS,
and a block in another thread would then change nothing.
"""

from __future__ import annotations

import threading

import numpy as np  # noqa: F401  (loads numpy's BLAS, which the limit acts on)
import scipy.optimize  # noqa: F401  (and scipy's)
from threadpoolctl import threadpool_info

from ftscale.scaling_laws.blas import single_threaded_blas


def _counts() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_one_thread_inside_nested_blocks_and_restored_after():
    before = _counts()
    with single_threaded_blas():
        assert _counts() == {1}
        with single_threaded_blas():
            assert _counts() == {1}
        assert _counts() == {1}  # the inner block must not restore while the outer one runs
    assert _counts() == before


def test_a_fit_in_another_thread_limits_the_process_and_restores_it():
    before = _counts()
    entered, release = threading.Event(), threading.Event()

    def fit_in_thread() -> None:
        with single_threaded_blas():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=fit_in_thread)
    thread.start()
    assert entered.wait(10)
    assert _counts() == {1}  # process-wide
    with single_threaded_blas():  # a second fit meanwhile: still one thread, and it must not restore
        assert _counts() == {1}
    assert _counts() == {1}
    release.set()
    thread.join(10)
    assert _counts() == before
    with single_threaded_blas():  # the thread's block has released control: this one takes it
        assert _counts() == {1}
    assert _counts() == before
