"""A spec's `laws:`: the candidate forms, the primary form, the sharing and the decision's target, checked with
errors that name the field and what would be valid."""

import pytest

from ftscale.analysis import LawOptions, law_options


def test_the_defaults_are_the_papers_law_three_candidates_and_cross_validated_sharing():
    options = law_options(None)
    assert options == LawOptions() and options.share == "cv" and options.target == {}
    assert [f.name for f in options.candidates] == ["multiplicative", "additive", "rectified-joint"]
    assert options.sharing_options() == {"beta, E": ("beta", "E"), "beta": ("beta",), "E": ("E",), "none": ()}


def test_the_primary_form_is_always_a_candidate_and_options_follow_its_meanings():
    options = law_options({"forms": ["additive"], "primary": "rectified-joint", "target": {"train_size": 1e4}})
    assert [f.name for f in options.candidates] == ["rectified-joint", "additive"]
    assert list(options.sharing_options()) == ["beta, E", "beta", "E", "none"]  # its data exponent and floor
    assert options.target == {"train_size": 1e4}
    assert law_options({"share": ["E"]}).sharing_options() == {"E": ("E",)}
    assert law_options({"share": []}).sharing_options() == {"none": ()}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"form": ["additive"]}, "laws: expected a mapping of forms, primary, share, target"),
        ({"forms": []}, "laws.forms: expected a non-empty list"),
        ({"forms": ["nope"]}, "laws.forms: unknown law 'nope'"),
        ({"forms": ["power"]}, "laws.forms: power ignores X"),
        ({"forms": ["my_missing_pkg.MyForm"]}, "laws.forms: law 'my_missing_pkg.MyForm': cannot import it"),
        ({"primary": "nope"}, "laws.primary: unknown law 'nope'"),
        ({"share": ["alpha"]}, r"laws.share: expected cv or a list of distinct parameters of the multiplicative law"),
        ({"share": "beta"}, "laws.share: expected cv or a list"),
        ({"target": {"x": 1e9}}, "laws.target: expected a mapping of model_size, pretrain_tokens, train_size"),
        ({"target": {"train_size": -3}}, "laws.target: expected .* to positive numbers"),
    ],
)
def test_bad_options_name_the_field(raw, error):
    with pytest.raises(ValueError, match=error):
        law_options(raw)
