"""Degenerate laws are never used silently: flagged in laws.json, the report and W&B's summary; the claims,
crossings and decisions that rest on them are not testable (or not decidable), with the reason."""

import json
from html import escape

import pytest

from ftscale.analysis import LawOptions, fit_sweep
from ftscale.reports.html import write_html
from ftscale.reports.sections import build_sections
from ftscale.reports.terminal import final_lines
from ftscale.reports.wandb_run import summary
from tests.analysis.synthetic import HELD_OUT, LAWS, make_points

# FMT's loss rises with Df (beta < 0: the wrong sign); LoRA's falls off a cliff between the two smallest Df
# (a Df^-12 term), steeper than the optimiser's box lets beta be (|beta| <= 10): beta ends on the bound.
RISING, AT_BOUND = (40.0, -0.2, 1.5), (1e21, 12.0, 1.6)
WRONG_SIGN = "beta = -0.2 < 0: the loss rises with Df (wrong sign)"
ON_BOUND = "beta = 10 is at the optimiser's bound"


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory):
    laws = dict(LAWS, fmt=RISING, lora=AT_BOUND)
    options = LawOptions(forms=("multiplicative",), share=("beta", "E"))
    results = fit_sweep("degenerate", "synthetic", make_points(laws=laws), HELD_OUT, bootstrap=0, options=options)
    sweep_dir = tmp_path_factory.mktemp("degenerate")
    return results, sweep_dir


def test_the_laws_are_flagged_in_laws_json_with_their_reasons(degenerate):
    results, sweep_dir = degenerate
    laws = json.loads(results.save(sweep_dir / "laws.json").read_text())["laws"]
    verdicts = {(law["method"], law["axis"]): law["fit"] for law in laws}
    for axis in ("model_size", "pretrain_tokens"):
        assert verdicts[("fmt", axis)]["quality"] == "degenerate"
        assert verdicts[("fmt", axis)]["quality_reasons"] == [WRONG_SIGN]
    for axis in ("model_size", "pretrain_tokens", "pet_size"):
        assert verdicts[("lora", axis)]["quality"] == "degenerate" and verdicts[("lora", axis)]["at_bound"] == ["beta"]
        assert verdicts[("lora", axis)]["quality_reasons"][0].startswith(ON_BOUND)
    assert all(verdicts[("prompt_tuning", axis)]["quality"] == "ok" for axis in ("model_size", "pet_size"))


def test_claims_resting_on_them_are_not_testable_with_the_reason(degenerate):
    results, _ = degenerate
    claims = {c.id: c for c in results.claims}
    # Claim 4 compares FMT's beta with each PET method's: FMT's law is degenerate, so no subject is testable.
    assert claims[4].verdict == "not testable" and set(claims[4].verdicts.values()) == {"not testable"}
    assert claims[4].reasons["prompt_tuning"] == f"the fmt model_size law is degenerate: {WRONG_SIGN}"
    # Claim 3 per PET method: LoRA's laws are degenerate, prompt tuning's are not (and has no interval here).
    assert claims[3].verdicts == {"lora": "not testable", "prompt_tuning": "inconclusive"}
    assert "the lora pet_size law is degenerate: " + ON_BOUND in claims[3].reasons["lora"]
    assert claims[3].verdict == "inconclusive"  # one subject cannot be judged: the claim cannot hold for all
    line = next(line for line in final_lines(results) if line.startswith("claim 4"))
    assert line.startswith("claim 4 (beta_FMT - beta_PET > 0): not testable -- lora not testable (the fmt model_size")


def test_crossings_and_decisions_resting_on_them_say_so(degenerate):
    results, _ = degenerate
    reasons = {(c.method_a, c.method_b, c.axis): c.not_testable for c in results.critical}
    assert reasons[("fmt", "prompt_tuning", "model_size")] == f"the fmt model_size law is degenerate: {WRONG_SIGN}"
    assert reasons[("lora", "prompt_tuning", "pretrain_tokens")].startswith(
        f"the lora pretrain_tokens law is degenerate: {ON_BOUND}"
    )
    decision = next(d.decision for d in results.decisions if d.axis == "model_size")
    assert not decision.decidable and decision.summary().startswith("not decidable: the fmt fit is degenerate")


def test_the_report_and_wandb_show_the_verdicts(degenerate):
    results, sweep_dir = degenerate
    sections = build_sections(results, {})
    html = write_html(sections, "degenerate", sweep_dir).read_text()
    assert '<h2>fmt along model_size <span class="badge degenerate">degenerate</span></h2>' in html
    assert '<h2>prompt_tuning along model_size <span class="badge ok">ok</span></h2>' in html
    assert html.count('<td class="degenerate">degenerate</td>') >= 5  # the overview's table, one row per law
    assert escape(WRONG_SIGN) in html
    assert "not testable (for reference only): the fmt model_size law is degenerate" in html
    scalars = summary(results)
    assert scalars["fit/fmt/model_size/quality"] == "degenerate"
    assert scalars["fit/fmt/model_size/quality_reasons"] == WRONG_SIGN
    assert scalars["fit/prompt_tuning/pet_size/quality"] == "ok" and scalars["decision/model_size/decidable"] is False
