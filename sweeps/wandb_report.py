"""A W&B Report of a fitted sweep (wandb-workspaces): report.html's sections, the fit run's tables and figures."""

import os
from typing import Any

from ftscale.sweeps.report import VERDICTS
from ftscale.sweeps.wandb_log import figures, fit_tables

OFFLINE = "W&B report skipped: it needs an online W&B login (`wandb login` or WANDB_API_KEY); W&B is {mode} here"


def build_report(laws: dict[str, Any], entity: str, project: str, fit_run_id: str | None = None) -> Any:
    """The report of a loaded `laws.json` (not saved). Its panels show the `scaling-law` run `fit_run_id`
    (else every fit run of the sweep's group)."""
    import wandb_workspaces.reports.v2 as wr

    sweep = str(laws.get("sweep", ""))
    only = f"ID = '{fit_run_id}'" if fit_run_id else f"Group = '{sweep}' and JobType = 'scaling-law'"
    fit_run = wr.Runset(entity=entity, project=project, name="scaling-law fit", filters=only)
    tables = [wr.WeavePanelSummaryTable(table_name=key) for key in fit_tables(laws)]
    media = [key for key, _ in figures(laws)]
    blocks: list[Any] = [wr.MarkdownBlock(text=_header(laws)), wr.H2(text="The paper's claims on this sweep")]
    blocks.append(wr.MarkdownBlock(text=_claims(laws.get("claims", []))))
    for (method, axis), text in _method_axis_sections(laws).items():
        blocks += [wr.H2(text=f"{method} along {axis}"), wr.MarkdownBlock(text=text)]
    blocks += [wr.H2(text="Critical finetuning data sizes between methods")]
    blocks.append(wr.MarkdownBlock(text=_critical(laws.get("critical", []))))
    blocks += [wr.H2(text="Tables and figures of the fit run"), wr.PanelGrid(runsets=[fit_run], panels=tables)]
    if media:
        blocks.append(wr.PanelGrid(runsets=[fit_run], panels=[wr.MediaBrowser(title="fits", media_keys=media)]))
    return wr.Report(
        entity=entity,
        project=project,
        title=f"ftscale sweep {sweep}"[:128],
        description=str(laws.get("task", "")),
        blocks=blocks,
    )


def publish_report(
    laws: dict[str, Any], mode: str, project: str, entity: str | None = None, fit_run_id: str | None = None
) -> str:
    """Save the report to W&B when `mode` is online; return the one line to print (its URL, or why not)."""
    if mode != "online":
        return OFFLINE.format(mode=mode)
    try:
        import wandb

        entity = entity or os.environ.get("WANDB_ENTITY") or wandb.Api().default_entity
        report = build_report(laws, entity, project, fit_run_id)
        report.save()
    except Exception as err:  # W&B must never fail a fit: unreachable, refused or broken alike.
        reason = (str(err).splitlines() or [""])[0]
        return f"W&B report failed ({type(err).__name__}: {reason}); laws.json and report.html are written"
    return f"W&B report: {report.url}"


def _header(laws: dict[str, Any]) -> str:
    fits, points = laws.get("fits", []), laws.get("points", [])
    methods = dict.fromkeys(p.get("method") for p in [*points, *fits] if p.get("method"))
    delta_h = [f["delta_h"] for f in fits if isinstance(f.get("delta_h"), int | float)]
    rows = [
        ("task", laws.get("task", "")),
        ("points", len(points)),
        ("methods", ", ".join(map(str, methods))),
        ("factor axes", ", ".join(map(str, dict.fromkeys(f.get("axis") for f in fits)))),
        ("fitted laws", len(fits)),
        ("largest held-out Δh", max(delta_h) if delta_h else None),
    ]
    return _table(["", ""], rows)


def _claims(claims: list[dict[str, Any]]) -> str:
    if not claims:
        return "No claim was evaluated on this sweep."
    rows = [
        (c.get("id"), c.get("claim"), VERDICTS.get(c.get("holds"), VERDICTS[None])[0], c.get("evidence"))
        for c in sorted(claims, key=lambda c: c.get("id", 0))
    ]
    return _table(["#", "claim", "verdict", "evidence"], rows)


def _method_axis_sections(laws: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Per method and axis: the law forms ranked by Δe and Δh, then each fitted law with its intervals."""
    sections: dict[tuple[str, str], list[str]] = {}
    for c in laws.get("form_comparison", []):
        rows = [
            (rank, f"{e.get('law')}{' (best)' if e.get('law') == c.get('winner') else ''}", e.get("delta_e"),
             e.get("delta_h"))
            for rank, e in enumerate(c.get("ranking", []), start=1)
        ]  # fmt: skip
        text = f"Law forms by held-out error (best: {c.get('winner')})\n\n" + _table(["rank", "law", "Δe", "Δh"], rows)
        sections.setdefault((c.get("method"), c.get("axis")), []).append(text)
    for fit in laws.get("fits", []):
        intervals = fit.get("intervals") or {}
        params = [(name, value, _interval(intervals.get(name))) for name, value in (fit.get("params") or {}).items()]
        facts = (
            f"`{fit.get('formula')}` · Δe {_cell(fit.get('delta_e'))} · Δh {_cell(fit.get('delta_h'))} · "
            f"fitted on {fit.get('n_fit')} points, {fit.get('n_held_out')} held out · x = {fit.get('x_name')}"
        )
        text = f"**{fit.get('law')} law**: {facts}\n\n" + _table(["parameter", "value", "interval"], params)
        sections.setdefault((fit.get("method"), fit.get("axis")), []).append(text)
    return {key: "\n\n".join(parts) for key, parts in sections.items()}


def _critical(critical: list[dict[str, Any]]) -> str:
    if not critical:
        return "No pair of methods was compared on this sweep."
    parts = []
    for c in critical:
        rows = [
            (x, "never cross" if df is None else df) for x, df in zip(c.get("x", []), c.get("df_c", []), strict=False)
        ]
        title = f"**{c.get('method_a')} vs {c.get('method_b')} along {c.get('axis')}**: the finetuning data size at "
        parts.append(title + "which both reach the same loss\n\n" + _table([str(c.get("axis")), "Df_c"], rows))
    return "\n\n".join(parts)


def _table(header: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _interval(bounds: Any) -> str:
    return f"[{_cell(bounds[0])}, {_cell(bounds[1])}]" if bounds and len(bounds) == 2 else "—"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")
