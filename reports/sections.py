"""The report of a fitted sweep as sections of text, tables and figures, built once for every renderer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ftscale.analysis import Claim, Critical, FormChoice, LawFit, SweepResults
from ftscale.scaling_laws.compare import CHOSEN_LABEL, DIAGNOSTIC_LABEL

OK, DEGENERATE = "ok", "degenerate"  # a law's verdict, shown as a badge
# The cause of a subject that is not testable, as `analysis.claims` words it: which law is degenerate, or which form
# lacks the parameter (the laws' own sections give every reason).
CAUSE = re.compile(r"the [^;:]+? (?:law is degenerate|form has no [a-z ]+|is not defined [a-z ]+)")


@dataclass(frozen=True)
class Figure:
    """An image file relative to the sweep directory; `key` names it in W&B. Also a table cell (shown inline)."""

    key: str
    path: str
    caption: str


@dataclass(frozen=True)
class Table:
    """Rows under named columns; `key` names it in W&B (`tables/<key>`). A cell may be a Figure."""

    key: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    badge: str | None = None  # the verdict of what the section shows (`ok`, `degenerate`), shown beside its title


def build_sections(results: SweepResults, figures: dict[str, str]) -> list[Section]:
    """Every section of the report; `figures` maps a figure key (see `reports.figures`) to its file."""
    sections = [_overview(results), _claims(results.claims, figures), _decisions(results)]
    forms = {(f.method, f.axis): f for f in results.forms}
    sections += [_law(law, forms[(law.method, law.axis)], figures) for law in results.laws]
    sections += [_sharing(results), _forms(results), _critical(results, figures)]
    if results.skipped:
        rows = [[s.method, ", ".join(s.axes), s.reason] for s in results.skipped]
        sections.append(Section("Not fitted yet", "", [Table("skipped", ["method", "axes", "reason"], rows)]))
    return sections


def _overview(results: SweepResults) -> Section:
    held = [law.fit.delta_h for law in results.laws if law.fit.delta_h is not None]
    degenerate = [law for law in results.laws if law.fit.degenerate]
    rows = [
        ["task", results.task],
        ["points", len(results.points)],
        ["methods", ", ".join(sorted({p.method for p in results.points}))],
        ["factor axes", ", ".join(dict.fromkeys(law.axis for law in results.laws))],
        ["law form (claims, crossings, decisions)", results.primary],
        ["fitted laws", len(results.laws)],
        ["degenerate laws", len(degenerate)],
        ["largest held-out Δh", max(held) if held else None],
    ]
    chosen = {(f.method, f.axis): f.chosen for f in results.forms}
    glance = [
        [
            law.method,
            law.axis,
            _verdict(law.fit.quality),
            law.fit.delta_e,
            law.fit.delta_h,
            law.fit.noise_floor,
            ", ".join(law.shared) or "none",
            chosen.get((law.method, law.axis)),
        ]
        for law in results.laws
    ]
    columns = ["method", "axis", "verdict", "Δe", "Δh", "noise floor", "shared", "form chosen by CV"]
    text = (
        f"{len(degenerate)} of {len(results.laws)} laws are degenerate: nothing rests on them silently (their "
        "claims, crossings and decisions say so)."
        if degenerate
        else ""
    )
    return Section(
        f"ftscale sweep “{results.sweep}”",
        text,
        [Table("overview", ["", ""], rows), Table("laws", columns, glance)],
        badge=DEGENERATE if degenerate else OK,
    )


def _claims(claims: list[Claim], figures: dict[str, str]) -> Section:
    rows = []
    for claim in claims:
        key = f"claims/{claim.id}"
        caption = f"claim {claim.id}: each subject against {claim.threshold:g}"
        plot = Figure(key, figures[key], caption) if key in figures else None
        side = f"{claim.quantity} {'>' if claim.side == 'above' else '<'} {claim.threshold:g}"
        subjects = "\n".join(subject_summaries(claim)) or claim.evidence
        rows.append([claim.id, claim.claim, claim.verdict, side, subjects, plot])
    text = (
        "Each claim is judged on the bootstrap interval of its own quantity (level "
        f"{claims[0].level if claims else 0.95:g}), per subject: holds when the interval lies on the claim's side, "
        "does not hold when it lies on the other side, inconclusive when it straddles, not testable when a law it "
        "rests on is degenerate or lacks the parameter it reads. The claim holds (does not hold) when every subject "
        "does."
    )
    columns = ["#", "claim", "verdict", "holds where", "subjects: value [interval]", "subjects against the threshold"]
    return Section("The paper's claims on this sweep", text, [Table("claims", columns, rows)])


def subject_summaries(claim: Claim) -> list[str]:
    """Each subject of a claim in a few words: `lora 0.21 [0.1, 0.3] holds`, or why it is not testable."""
    out = []
    for subject, verdict in claim.verdicts.items():
        if subject in claim.reasons:
            cause = ", ".join(dict.fromkeys(CAUSE.findall(claim.reasons[subject]))) or claim.reasons[subject]
            out.append(f"{subject} not testable ({cause})")
            continue
        interval = claim.intervals.get(subject)
        shown = f" [{interval[0]:.3g}, {interval[1]:.3g}]" if interval else " (no interval)"
        out.append(f"{subject} {claim.values[subject]:.3g}{shown} {verdict}")
    return out


def _decisions(results: SweepResults) -> Section:
    rows = [[d.axis, d.target, d.decision.summary()] for d in results.decisions]
    section = Section(
        "Which method to use",
        "At a target X and Df per axis whose X every method shares (the PET-size axis's X is each method's own "
        "size): the best predicted method, by how much, how sure, and where another overtakes it.",
        [Table("decisions", ["axis", "target", "decision"], rows)],
    )
    if not rows:
        section.text, section.tables = "No two methods were fitted on an axis whose X they share.", []
    return section


def _law(law: LawFit, forms: FormChoice, figures: dict[str, str]) -> Section:
    fit = law.fit
    facts = (
        f"{fit.form.formula} · {fit.describe_quality()} · Δe {_short(fit.delta_e)} · Δh {_short(fit.delta_h)} · "
        f"noise floor {_short(fit.noise_floor)} ({fit.n_groups} seed{'s' if fit.n_groups != 1 else ''}) · fitted "
        f"on {fit.n_fit} cells, {fit.n_held_out} held out · X = {law.x_name} · shares "
        f"{', '.join(law.shared) or 'nothing'} with the method's other laws · {fit.n_bootstrap} bootstrap resamples"
        + "".join(f" · form table: {note}" for note in forms.notes)
    )
    intervals = fit.intervals or {}
    params = [
        [name, fit.form.meaning(name).label, value, *(intervals.get(name) or [None, None])]
        for name, value in fit.params.items()
    ]
    key = f"{law.method}/{law.axis}"
    return Section(
        f"{law.method} along {law.axis}",
        facts,
        [Table(f"law/{key}", ["parameter", "meaning", "value", "low", "high"], params), *_form_tables(key, forms)],
        [Figure(f"fit/{key}", figures[f"fit/{key}"], f"{law.method}: loss vs Df at each {law.x_name}")]
        if f"fit/{key}" in figures
        else [],
        badge=_verdict(fit.quality),
    )


def _form_tables(key: str, forms: FormChoice) -> list[Table]:
    """The candidate forms as cross-validation ranked them, then the held-out ranking, labelled a diagnostic."""
    folds = forms.folds
    chosen = {"cross-validation": CHOSEN_LABEL, "delta_e": "ranked by Δe (no cross-validation fold)"}.get(
        forms.ranked_by, "; ".join(forms.notes)
    )
    rows = [
        [rank, c["law"], c["cv_score"], *(c["folds"].get(f) for f in folds), _verdict(c["quality"]), c["delta_e"],
         c["delta_h"], c["law"] == forms.chosen]
        for rank, c in enumerate(forms.candidates, 1)
    ]  # fmt: skip
    columns = ["rank", f"form ({chosen})", "CV score", *(f"fold: {f}" for f in folds), "verdict", "Δe", "Δh", "chosen"]
    delta_h = {c["law"]: c["delta_h"] for c in forms.candidates}
    diagnostic = [[rank, law, delta_h[law]] for rank, law in enumerate(forms.held_out_ranking, 1)]
    return [
        Table(f"forms/{key}", columns, rows),
        Table(f"forms_held_out/{key}", ["rank", DIAGNOSTIC_LABEL, "Δh"], diagnostic),
    ]


def _sharing(results: SweepResults) -> Section:
    why = {"one axis": "one law: nothing to share", "the spec": "the spec"}
    summary = [
        [s.method, ", ".join(s.shared) or "none", "; ".join([why.get(s.chosen_by, s.chosen_by), *s.notes]),
         _verdict(s.stage1_quality), "; ".join(s.stage1_reasons)]
        for s in results.sharing
    ]  # fmt: skip
    columns = ["method", "shared", "chosen by", "shared stage's verdict", "why degenerate"]
    section = Section(
        "What each method's laws share",
        f"In the two-stage fit, the {results.primary} laws of one method share these parameters across its axes; "
        "the others are fitted per axis. Chosen as the spec says, or by cross-validation on the fitted points "
        "(each option's score: mean |L - L_hat| on the points each fold leaves out).",
        [Table("sharing", columns, summary)],
    )
    for s in (s for s in results.sharing if s.options):
        rows = [
            [o["name"], o["score"], *(o["folds"].get(f) for f in s.folds), "degenerate" if o["degenerate"] else "ok",
             o["reason"], o["shared"] == s.shared]
            for o in s.options
        ]  # fmt: skip
        columns = [f"{s.method}: shared", "CV score", *(f"fold: {f}" for f in s.folds), "verdict", "no score", "chosen"]
        section.tables.append(Table(f"sharing/{s.method}", columns, rows))
    return section


def _forms(results: SweepResults) -> Section:
    rows = [
        [info["name"], key, info["formula"], param, meaning]
        for key, info in results.law_forms.items()
        for param, meaning in info["parameters"].items()
    ]
    return Section(
        "Law forms",
        "The candidate forms of this sweep and what each parameter means (claims read a parameter by its meaning).",
        [Table("law_forms", ["form", "key", "formula", "parameter", "meaning"], rows)],
    )


def _critical(results: SweepResults, figures: dict[str, str]) -> Section:
    section = Section(
        "Who wins where: crossings between methods",
        "Every finetuning data size at which two methods' laws predict the same loss, at each X of an axis whose X "
        "they share, with the better method on each side, an interval over paired bootstrap resamples, and an "
        "extrapolation mark outside the measured range.",
    )
    for c in results.critical:
        key = f"critical/{c.method_a}-{c.method_b}/{c.axis}"
        rows = [[x, _crossings(c, i)] for i, x in enumerate(c.x)]
        title = f"{c.method_a} vs {c.method_b} along {c.axis}"
        if c.not_testable:
            title += f" — not testable (for reference only): {c.not_testable}"
        section.tables.append(Table(key, [f"X ({c.axis})", title], rows))
        if key in figures:
            lines = f"{c.method_a} (solid) vs {c.method_b} (dashed)"
            caption = f"{lines}: predicted loss against Df, each crossing with its interval"
            section.figures.append(Figure(key, figures[key], caption))
    if not results.critical:
        section.text = "No two methods were fitted on an axis whose X they share."
    return section


def _crossings(c: Critical, i: int) -> str:
    """The crossings at X number i in words, or who is lower at every Df."""
    if not c.crossings[i]:
        return f"never cross: {c.lower[i]} is predicted lower at every Df"
    out = []
    for x in c.crossings[i]:
        line = f"Df = {x.df:.4g}: {x.below} better below, {x.above} above"
        if x.low is not None:
            line += f" ({x.interval()})"
        if x.extrapolation:
            line += "; extrapolation: " + "; ".join(x.extrapolation)
        out.append(line)
    return "\n".join(out)


def _verdict(quality: str | None) -> str:
    return quality or "not assessed"


def _short(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"
