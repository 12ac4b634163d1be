import operator

import pytest

from ftscale.analysis.schedule import Call, run_calls


def test_the_lowest_rank_starts_first_and_follow_ups_take_their_place_by_rank():
    started = []
    calls = [Call("a", 0, started.append, ("a",)), Call("t1", 2, started.append, ("t1",))]
    calls += [Call("b", 0, started.append, ("b",)), Call("t2", 2, started.append, ("t2",))]

    def follow_ups(key, _):
        return [Call(f"{key}'", 1, started.append, (f"{key}'",))] if key in ("a", "b") else []

    results = run_calls(calls, follow_ups)
    # a's follow-up waits for b (rank 0) but goes before the rank-2 calls given earlier; ties keep their order
    assert started == ["a", "b", "a'", "b'", "t1", "t2"]
    assert set(results) == {"a", "b", "a'", "b'", "t1", "t2"}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_result_and_every_follow_up_result_comes_back_by_key(workers):
    calls = [Call(i, i % 3, operator.add, (i, 100)) for i in range(5)]

    def follow_ups(key, result):
        return [Call(("times ten", key), 0, operator.mul, (result, 10))] if isinstance(key, int) and key % 2 else []

    results = run_calls(calls, follow_ups, workers)
    assert results == {0: 100, 1: 101, 2: 102, 3: 103, 4: 104, ("times ten", 1): 1010, ("times ten", 3): 1030}


def test_an_exception_in_a_call_reaches_the_caller():
    with pytest.raises(ZeroDivisionError):
        run_calls([Call("x", 0, operator.truediv, (1, 0))], lambda key, result: [], workers=2)
