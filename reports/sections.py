"""The report of a fitted sweep as sections of text, tables and figures, built once for every renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftscale.analysis import Claim, SweepResults


@dataclass(frozen=True)
class Table:
    """Rows under named columns; `key` names it in W&B (`tables/<key>`)."""

    key: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Figure:
    """An image file relative to the sweep directory; `key` names it in W&B."""

    key: str
    path: str
    caption: str


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def build_sections(results: SweepResults, figures: dict[str, str]) -> list[Section]:
    """Every section of the report; `figures` maps a figure key (see `reports.figures`) to its file."""
    sections = [_overview(results), _claims(results.claims)]
    for law in results.laws:
        ranking = next(f for f in results.forms if (f.method, f.axis) == (law.method, law.axis))
        fit = law.fit
        facts = (
            f"{fit.form.formula} · Δe {_short(fit.delta_e)} · Δh {_short(fit.delta_h)} · fitted on {fit.n_fit} "
            f"points, {fit.n_held_out} held out · X = {law.x_name} · "
            f"{'converged' if fit.converged else 'did not converge'} · {fit.n_bootstrap} bootstrap resamples"
        )
        intervals = fit.intervals or {}
        params = [[name, value, *(intervals.get(name) or [None, None])] for name, value in fit.params.items()]
        forms = [
            [rank, r["law"], r["delta_e"], r["delta_h"], r["law"] == ranking.winner]
            for rank, r in enumerate(ranking.ranking, 1)
        ]
        key = f"{law.method}/{law.axis}"
        sections.append(
            Section(
                f"{law.method} along {law.axis}",
                facts,
                [
                    Table(f"law/{key}", ["parameter", "value", "low", "high"], params),
                    Table(f"forms/{key}", ["rank", "law", "delta_e", "delta_h", "best"], forms),
                ],
                [Figure(f"fit/{key}", figures[f"fit/{key}"], f"{law.method}: loss vs Df at each {law.x_name}")]
                if f"fit/{key}" in figures
                else [],
            )
        )
    sections.append(_critical(results, figures))
    if results.skipped:
        rows = [[s.method, ", ".join(s.axes), s.reason] for s in results.skipped]
        sections.append(Section("Not fitted yet", "", [Table("skipped", ["method", "axes", "reason"], rows)]))
    return sections


def _overview(results: SweepResults) -> Section:
    held = [law.fit.delta_h for law in results.laws if law.fit.delta_h is not None]
    rows = [
        ["task", results.task],
        ["points", len(results.points)],
        ["methods", ", ".join(sorted({p.method for p in results.points}))],
        ["factor axes", ", ".join(dict.fromkeys(law.axis for law in results.laws))],
        ["fitted laws", len(results.laws)],
        ["largest held-out Δh", max(held) if held else None],
    ]
    return Section(f"ftscale sweep “{results.sweep}”", "", [Table("overview", ["", ""], rows)])


def _claims(claims: list[Claim]) -> Section:
    rows = []
    for claim in claims:
        subjects = claim.values or {"—": None}
        for subject, value in subjects.items():
            low, high = claim.intervals.get(subject) or [None, None]
            verdict = claim.verdicts.get(subject, claim.verdict)
            rows.append([claim.id, claim.claim, claim.verdict, claim.quantity, subject, value, low, high, verdict])
    text = (
        "Each claim is judged on the bootstrap interval of its own quantity (level "
        f"{claims[0].level if claims else 0.95:g}): holds when the interval lies on the claim's side, does not "
        "hold when it lies on the other side, inconclusive when it straddles."
    )
    columns = ["#", "claim", "verdict", "quantity", "subject", "value", "low", "high", "subject verdict"]
    notes = [f"Claim {c.id}: {c.evidence}" for c in claims if c.verdict == "not testable"]
    return Section("The paper's claims on this sweep", " ".join([text, *notes]), [Table("claims", columns, rows)])


def _critical(results: SweepResults, figures: dict[str, str]) -> Section:
    section = Section(
        "Critical finetuning data sizes between methods",
        "The finetuning data size at which two methods reach the same loss, at each X of an axis "
        "(none: the laws never cross).",
    )
    for c in results.critical:
        key = f"critical/{c.method_a}-{c.method_b}/{c.axis}"
        section.tables.append(Table(key, [c.axis, "Df_c"], [[x, df] for x, df in zip(c.x, c.df_c, strict=True)]))
        if key in figures:
            section.figures.append(Figure(key, figures[key], f"{c.method_a} vs {c.method_b} along {c.axis}"))
    if not results.critical:
        section.text = "No pair of methods was fitted on a shared axis."
    return section


def _short(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"
