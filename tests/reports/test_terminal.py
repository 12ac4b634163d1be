"""The last lines of `ftscale demo` and `ftscale sweep run`: the five claims, one line each with their verdict and
intervals, then the decision per axis in plain words."""

from ftscale.reports.terminal import final_lines, sweep_lines


def test_five_claim_lines_then_the_decisions(fitted):
    results, _, _ = fitted
    lines = final_lines(results)
    claims = {c.id: c for c in results.claims}
    assert [line.split(" (")[0] for line in lines[:5]] == [f"claim {i}" for i in range(1, 6)]
    for line, claim in zip(lines, results.claims, strict=False):
        assert f"): {claim.verdict} -- " in line and "\n" not in line
    two = claims[2]
    for subject, value in two.values.items():
        low, high = two.intervals[subject]
        assert f"{subject} {value:.3g} [{low:.3g}, {high:.3g}] {two.verdicts[subject]}" in lines[1]
    assert lines[1].startswith("claim 2 (alpha_m - alpha_p > 0): ")
    assert lines[4].startswith("claim 5 (rise_FMT - rise_PET > 0): not testable -- needs a retention evaluation")
    rest = lines[5:]
    for decision in results.decisions:
        at = rest.index(f"decision along {decision.axis} (X: the largest measured, Df: the largest measured):")
        summary = decision.decision.summary().splitlines()
        assert rest[at + 1 : at + 1 + len(summary)] == [f"  {line}" for line in summary]
        assert summary[0].startswith(f"at X = {decision.decision.x:.4g}, Df = 1600: {decision.decision.best} is")
    assert len(rest) == sum(1 + len(d.decision.summary().splitlines()) for d in results.decisions)


def test_a_laws_json_it_cannot_read_is_one_line_saying_why(tmp_path):
    (tmp_path / "laws.json").write_text('{"sweep": "s", "task": "t", "points": [], "laws": [], "forms": []}')
    (line,) = sweep_lines(tmp_path)
    assert line.startswith(f"claims: {tmp_path / 'laws.json'}: not a laws.json written by this version of ftscale")
