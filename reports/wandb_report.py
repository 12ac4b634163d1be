"""A W&B Report of a fitted sweep (wandb-workspaces): the report's sections, with the fit run's tables and
figures as panels."""

from __future__ import annotations

import os
from typing import Any

from ftscale.reports.sections import Figure, Section, Table

OFFLINE = "W&B report skipped: it needs an online W&B login (`wandb login` or WANDB_API_KEY); W&B is {mode} here"


def build_report(sections: list[Section], entity: str, project: str, sweep: str, fit_run_id: str | None = None) -> Any:
    """The report (not saved); its panels show the `scaling-law` run `fit_run_id`, else every fit run of the sweep."""
    import wandb_workspaces.reports.v2 as wr

    only = f"ID = '{fit_run_id}'" if fit_run_id else f"Group = '{sweep}' and JobType = 'scaling-law'"
    fit_run = wr.Runset(entity=entity, project=project, name="scaling-law fit", filters=only)
    blocks: list[Any] = []
    for section in sections:
        blocks += [wr.H2(text=section.title), wr.MarkdownBlock(text=_markdown(section))]
        panels = [wr.WeavePanelSummaryTable(table_name=f"tables/{t.key}") for t in section.tables]
        if section.figures:
            media = [f"figures/{f.key}" for f in section.figures]
            panels.append(wr.MediaBrowser(title=section.title, media_keys=media))
        if panels:
            blocks.append(wr.PanelGrid(runsets=[fit_run], panels=panels))
    return wr.Report(entity=entity, project=project, title=f"ftscale sweep {sweep}"[:128], blocks=blocks)


def publish_report(
    sections: list[Section], sweep: str, mode: str, project: str, entity: str | None = None, fit_run: str | None = None
) -> str:
    """Save the report to W&B when `mode` is online; return the one line to print (its URL, or why not)."""
    if mode != "online":
        return OFFLINE.format(mode=mode)
    try:
        import wandb

        entity = entity or os.environ.get("WANDB_ENTITY") or wandb.Api().default_entity
        report = build_report(sections, entity, project, sweep, fit_run)
        report.save()
    except Exception as err:  # W&B must never fail a fit: unreachable, refused or broken alike.
        reason = (str(err).splitlines() or [""])[0]
        return f"W&B report failed ({type(err).__name__}: {reason}); laws.json and report.html are written"
    return f"W&B report: {report.url}"


def _markdown(section: Section) -> str:
    return "\n\n".join([section.text, *(_table(t) for t in section.tables)]).strip()


def _table(table: Table) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Figure):  # shown in the panels below the text
        return value.caption
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")
