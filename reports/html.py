"""`report.html`: the sections of a fitted sweep as one self-contained page (figures inlined)."""

from __future__ import annotations

import base64
import mimetypes
from html import escape
from pathlib import Path
from typing import Any

from ftscale.analysis.results import write_atomically
from ftscale.reports.sections import Figure, Section, Table

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; white-space: pre-line; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.holds { color: #17632a; font-weight: 600; } .does-not-hold { color: #a3161a; font-weight: 600; }
.inconclusive { color: #8a5a00; font-weight: 600; } .not-testable { color: #777; }
figure { margin: .5em 0; } img { max-width: 100%; height: auto; } figcaption { color: #777; font-size: .85em; }
.missing { color: #a3161a; font-style: italic; } .meta { color: #555; }
.ok { color: #17632a; } .degenerate { color: #a3161a; font-weight: 600; } td img { max-width: 480px; }
.badge { font-size: .6em; vertical-align: middle; border-radius: .8em; padding: .15em .7em; margin-left: .6em;
         color: #fff; font-weight: 600; } .badge.ok { background: #17632a; } .badge.degenerate { background: #a3161a; }
"""
# Cells shown in a verdict's colour: a claim's verdicts and a fit's.
VERDICTS = {"holds", "does not hold", "inconclusive", "not testable", "ok", "degenerate"}


def write_html(sections: list[Section], title: str, sweep_dir: Path) -> Path:
    """Write `<sweep_dir>/report.html`; figure paths are relative to `sweep_dir`."""
    body = "\n".join(_section(section, 2 if i else 1, sweep_dir) for i, section in enumerate(sections))
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
    return write_atomically(Path(sweep_dir) / "report.html", page)


def _section(section: Section, level: int, sweep_dir: Path) -> str:
    badge = f' <span class="badge {escape(section.badge)}">{escape(section.badge)}</span>' if section.badge else ""
    parts = [f"<h{level}>{escape(section.title)}{badge}</h{level}>"]
    if section.text:
        parts.append(f'<p class="meta">{escape(section.text)}</p>')
    parts += [_table(table, sweep_dir) for table in section.tables]
    parts += [_figure(figure, sweep_dir) for figure in section.figures]
    return "<section>" + "\n".join(parts) + "</section>"


def _table(table: Table, sweep_dir: Path) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns) if any(table.columns) else ""
    rows = "".join("<tr>" + "".join(_cell(v, sweep_dir) for v in row) + "</tr>" for row in table.rows)
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{rows}</table>"


def _cell(value: Any, sweep_dir: Path) -> str:
    if isinstance(value, Figure):
        return f"<td>{_figure(value, sweep_dir)}</td>"
    if isinstance(value, str) and value in VERDICTS:
        return f'<td class="{value.replace(" ", "-")}">{value}</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else ''}</td>"
    if isinstance(value, int | float):
        return f'<td class="num">{number(value)}</td>'
    return f"<td>{'—' if value is None else escape(str(value))}</td>"


def number(value: float) -> str:
    """Data sizes and large constants whole, with separators; the rest to 4 significant digits."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if 1e3 <= abs(value) < 1e15 else f"{value:.4g}"


def _figure(figure: Figure, sweep_dir: Path) -> str:
    path = Path(sweep_dir) / figure.path
    if not path.is_file():
        return f'<p class="missing">figure missing: {escape(figure.path)}</p>'
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{escape(figure.path)}">'
        f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
    )
