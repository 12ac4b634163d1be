"""Optima reused inside a `shared_optima` block: the same answer as a fresh search, and only for identical input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, fit
from ftscale.scaling_laws.fitter import minimise
from ftscale.scaling_laws.memo import active, shared_optima
from ftscale.scaling_laws.objective import Objective

from .conftest import synthetic

X = np.geomspace(1e7, 1e9, 3)
DF = np.geomspace(1e2, 1e4, 4)


@pytest.fixture(scope="module")
def points():
    return synthetic(MULTIPLICATIVE, {"A": 30.0, "alpha": 0.2, "beta": 0.3, "E": 1.0}, X, DF, 0.01, seed=1)


def test_a_repeated_search_is_answered_from_the_block_and_equals_a_fresh_one(points):
    fresh = fit(MULTIPLICATIVE, *points, refine=2)
    with shared_optima() as optima:
        first = fit(MULTIPLICATIVE, *points, refine=2)
        again = fit(MULTIPLICATIVE, *points, refine=2)
        assert len(optima) == 1  # the second fit found the first one's optimum
    assert first.params == again.params == fresh.params
    assert first.objective == fresh.objective


def test_any_change_in_the_input_is_a_new_search(points):
    x, df, loss = points
    with shared_optima() as optima:
        fit(MULTIPLICATIVE, x, df, loss, refine=2)
        fit(MULTIPLICATIVE, x, df, loss * (1 + 1e-12), refine=2)  # other losses
        fit(MULTIPLICATIVE, x, df, loss, refine=3)  # another option
        fit(MULTIPLICATIVE, x, df, loss, refine=2, held_out=["df=max"])  # other points
        fit(MULTIPLICATIVE.constrained(fixed={"E": 1.0}), x, df, loss, refine=2)  # another form
        assert len(optima) == 5


def test_a_block_given_another_blocks_optima_uses_them(points):
    with shared_optima() as optima:
        fit(MULTIPLICATIVE, *points, refine=2)
    # Mark the remembered optimum: a block given it must answer with it, not search again.
    (key, found), *_ = optima.items()
    marked = {key: replace(found, message="remembered")}
    with shared_optima(marked):
        assert fit(MULTIPLICATIVE, *points, refine=2).message == "remembered"
    assert fit(MULTIPLICATIVE, *points, refine=2).message != "remembered"  # outside any block: a search


def test_outside_a_block_nothing_is_remembered_and_blocks_nest(points):
    assert active() is None
    with shared_optima() as outer:
        with shared_optima() as inner:
            fit(MULTIPLICATIVE, *points, refine=2)
        assert len(inner) == 1 and not outer
        assert active() is outer
    assert active() is None


def test_an_answer_is_a_copy_the_caller_may_change(points):
    x, df, loss = points
    objective = Objective(MULTIPLICATIVE, np.log(x), np.log(df), loss)
    search = {"bounds": MULTIPLICATIVE.bounds(), "names": MULTIPLICATIVE.internal, "refine": 2}
    with shared_optima() as optima:
        first = minimise(objective, MULTIPLICATIVE.grid(), **search)
        found = first.theta.copy()
        first.theta[:] = 0.0
        again = minimise(objective, MULTIPLICATIVE.grid(), **search)
    assert len(optima) == 1
    np.testing.assert_array_equal(again.theta, found)
