"""Nested, stratified subsets and log-spaced size grids (property tests)."""

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftscale.datamodules import log_spaced_sizes, nested_subset

# A split: a list of example languages, 1..4 languages with uneven shares.
splits = st.lists(st.sampled_from(["de", "en", "fr", "zh"]), min_size=1, max_size=300)


def column(languages: list[str]) -> pa.ChunkedArray:
    """The languages as an Arrow-backed split holds them: a string column, in uneven chunks."""
    cut = len(languages) // 3
    return pa.chunked_array([languages[:cut], languages[cut:]], pa.string())


@given(languages=splits, seed=st.integers(0, 2**32 - 1), data=st.data())
@settings(max_examples=150, deadline=None)
def test_subsets_are_exact_nested_and_stratified(languages, seed, data):
    small = data.draw(st.integers(1, len(languages)))
    large = data.draw(st.integers(small, len(languages)))
    a, b = (
        nested_subset(column(languages), small, seed).tolist(),
        nested_subset(column(languages), large, seed).tolist(),
    )
    assert nested_subset(languages, small, seed).tolist() == a  # a list and an Arrow column give the same subset
    assert len(a) == len(set(a)) == small
    assert len(b) == len(set(b)) == large
    assert b[:small] == a  # nested: a prefix of one order
    assert all(0 <= i < len(languages) for i in b)
    shares = Counter(languages)
    picked = Counter(languages[i] for i in a)
    for lang, count in shares.items():
        assert abs(picked[lang] - small * count / len(languages)) < 1


def test_subsets_are_those_of_the_list_implementation():
    # Pinned from the implementation that looped over Python lists: the same seed keeps the same subsets.
    languages = ["de"] * 5 + ["en"] * 3 + ["fr"] * 2
    assert nested_subset(column(languages), 10, 0).tolist() == [0, 7, 4, 9, 2, 6, 1, 5, 3, 8]
    assert nested_subset(column(["en"] * 8), 8, 7).tolist() == [7, 6, 4, 1, 5, 3, 0, 2]


@given(languages=splits.filter(lambda s: len(s) >= 20), seed=st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_seeds_give_different_subsets(languages, seed):
    size = len(languages) // 2
    # Thousands of stratified subsets of that size exist, so equal ones would be a bug, not chance.
    first, second = nested_subset(column(languages), size, seed), nested_subset(column(languages), size, seed + 1)
    assert set(first.tolist()) != set(second.tolist())


def test_whole_split_is_a_permutation():
    languages = ["en"] * 70 + ["de"] * 30
    assert sorted(nested_subset(column(languages), 100, 3).tolist()) == list(range(100))


@pytest.mark.parametrize("size", [0, -1, 11])
def test_size_out_of_range_names_the_range(size):
    with pytest.raises(ValueError, match=rf"train_size={size}.*1 <= train_size <= 10"):
        nested_subset(["en"] * 10, size, 0)


@given(minimum=st.integers(1, 10_000), span=st.integers(0, 10**6), num=st.integers(2, 40))
def test_log_spaced_sizes(minimum, span, num):
    maximum = minimum + span
    sizes = log_spaced_sizes(minimum, maximum, num)
    assert sizes[0] == minimum and sizes[-1] == maximum
    assert sizes == sorted(set(sizes))
    assert all(isinstance(s, int) for s in sizes)
    assert len(sizes) <= num


def test_log_spaced_sizes_are_geometric():
    assert log_spaced_sizes(100, 100_000, 4) == [100, 1000, 10_000, 100_000]


@pytest.mark.parametrize(("minimum", "maximum", "num"), [(0, 10, 3), (10, 5, 3), (1, 10, 1)])
def test_log_spaced_sizes_rejects_bad_grids(minimum, maximum, num):
    with pytest.raises(ValueError):
        log_spaced_sizes(minimum, maximum, num)
