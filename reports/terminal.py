"""The last lines a sweep's command prints: the five claims (one line each: verdict and intervals) and the
decision per axis in plain words."""

from __future__ import annotations

import re
from pathlib import Path

from ftscale.analysis import Claim, SweepResults
from ftscale.errors import InputError
from ftscale.sweeps.layout import LAWS

# The cause of a subject that is not testable, as `analysis.claims` words it: which law is degenerate, or which
# form lacks the parameter (the full reasons are in laws.json and the report).
CAUSE = re.compile(r"the [^;:]+? (?:law is degenerate|form has no [a-z ]+)")


def final_lines(results: SweepResults) -> list[str]:
    """One line per claim, then each axis's decision (its summary, indented)."""
    lines = [claim_line(claim) for claim in results.claims]
    for d in results.decisions:
        lines.append(f"decision along {d.axis} ({d.target}):")
        lines += [f"  {line}" for line in d.decision.summary().splitlines()]
    return lines


def claim_line(claim: Claim) -> str:
    """`claim N (quantity > threshold): verdict -- subject value [low, high], ...` in one line."""
    head = f"claim {claim.id} ({claim.quantity} {'>' if claim.side == 'above' else '<'} {claim.threshold:g}): "
    if not claim.verdicts:
        return head + f"{claim.verdict} -- {claim.evidence}"
    subjects = []
    for subject, verdict in claim.verdicts.items():
        if subject in claim.reasons:
            cause = ", ".join(dict.fromkeys(CAUSE.findall(claim.reasons[subject]))) or claim.reasons[subject]
            subjects.append(f"{subject} not testable ({cause})")
            continue
        low_high = claim.intervals.get(subject)
        shown = f" [{low_high[0]:.3g}, {low_high[1]:.3g}]" if low_high else " (no interval)"
        subjects.append(f"{subject} {claim.values[subject]:.3g}{shown} {verdict}")
    return head + f"{claim.verdict} -- " + "; ".join(subjects)


def sweep_lines(sweep_dir: str | Path) -> list[str]:
    """`final_lines` of the sweep's laws.json, or one line saying why it cannot be read."""
    try:
        return final_lines(SweepResults.load(Path(sweep_dir) / LAWS))
    except InputError as error:  # e.g. a laws.json an older ftscale wrote
        return [f"claims: {error}"]
