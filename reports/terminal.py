"""The last lines a sweep's command prints: the five claims (one line each: verdict and intervals) and the
decision per axis in plain words."""

from __future__ import annotations

from pathlib import Path

from ftscale.analysis import Claim, SweepResults
from ftscale.errors import InputError
from ftscale.reports.sections import subject_summaries
from ftscale.sweeps.layout import LAWS


def final_lines(results: SweepResults) -> list[str]:
    """One line per claim, then each axis's decision (its summary, indented)."""
    lines = [claim_line(claim) for claim in results.claims]
    for d in results.decisions:
        lines.append(f"decision along {d.axis} ({d.target}):")
        lines += [f"  {line}" for line in d.decision.summary().splitlines()]
    return lines


def claim_line(claim: Claim) -> str:
    """`claim N (quantity > threshold): verdict -- subject value [low, high] verdict; ...` in one line."""
    head = f"claim {claim.id} ({claim.quantity} {'>' if claim.side == 'above' else '<'} {claim.threshold:g}): "
    if not claim.verdicts:
        return head + f"{claim.verdict} -- {claim.evidence}"
    return head + f"{claim.verdict} -- " + "; ".join(subject_summaries(claim))


def sweep_lines(sweep_dir: str | Path) -> list[str]:
    """`final_lines` of the sweep's laws.json, or one line saying why it cannot be read."""
    try:
        return final_lines(SweepResults.load(Path(sweep_dir) / LAWS))
    except InputError as error:  # e.g. a laws.json an older ftscale wrote
        return [f"claims: {error}"]
