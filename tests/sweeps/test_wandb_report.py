"""The W&B Report of a fit: its blocks and panels built from laws.json (never saved here), and the offline skip."""

import wandb_workspaces.reports.v2 as wr

from ftscale.sweeps.wandb_log import figures, fit_tables
from ftscale.sweeps.wandb_report import build_report, publish_report
from tests.sweeps.test_report import make_laws


def markdown(blocks) -> str:
    return "\n".join(block.text for block in blocks if isinstance(block, wr.MarkdownBlock))


def test_report_has_the_sections_of_report_html_and_the_fit_runs_panels(tmp_path):
    laws = make_laws(tmp_path)
    report = build_report(laws, "me", "ftscale", fit_run_id="abc123")
    assert (report.entity, report.project, report.title) == ("me", "ftscale", "ftscale sweep demo")
    headings = [block.text for block in report.blocks if isinstance(block, wr.H2)]
    assert headings == [
        "The paper's claims on this sweep",
        "lora along model_size",
        "Critical finetuning data sizes between methods",
        "Tables and figures of the fit run",
    ]
    text = markdown(report.blocks)
    assert "| alpha | 0.2173 | [0.1529, 0.2841] |" in text  # a fitted parameter with its interval
    assert "Δe 0.0113 · Δh 0.0347" in text and "| 1 | additive (best) | 0.0101 | 0.0222 |" in text
    assert "| 2 | alpha_m > alpha_p | does not hold | alpha_m 0.21 < alpha_p 0.3 |" in text  # a claim
    assert "| 55536 | never cross |" in text and "| 25248 | 1235 |" in text  # critical data sizes
    assert "<script>" in report.description  # text, not HTML: the report's markdown is not a page

    grids = [block for block in report.blocks if isinstance(block, wr.PanelGrid)]
    panels = [panel for grid in grids for panel in grid.panels]
    assert [p.table_name for p in panels if isinstance(p, wr.WeavePanelSummaryTable)] == list(fit_tables(laws))
    (media,) = [p for p in panels if isinstance(p, wr.MediaBrowser)]
    assert media.media_keys == [key for key, _ in figures(laws)]
    assert all(grid.runsets[0].filters == "ID = 'abc123'" for grid in grids)


def test_without_a_fit_run_id_the_panels_show_the_sweeps_fit_runs(tmp_path):
    report = build_report(make_laws(tmp_path), "me", "ftscale")
    grid = next(block for block in report.blocks if isinstance(block, wr.PanelGrid))
    assert grid.runsets[0].filters == "Group = 'demo' and JobType = 'scaling-law'"


def test_offline_the_report_is_skipped_with_one_line(tmp_path):
    line = publish_report(make_laws(tmp_path), "offline", "ftscale")
    assert (
        line == "W&B report skipped: it needs an online W&B login (`wandb login` or WANDB_API_KEY); W&B is offline here"
    )
