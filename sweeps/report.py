"""`report.html`: a finished sweep's laws, their held-out errors, figures and the paper's claims, in one file."""

import base64
import mimetypes
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.holds { color: #17632a; font-weight: 600; } .fails { color: #a3161a; font-weight: 600; }
.untestable { color: #777; }
tr.winner { background: #e7f6e9; font-weight: 600; }
.badge { background: #17632a; color: #fff; border-radius: 3px; padding: 0 .4em; font-size: .8em; }
.formula { font-family: ui-monospace, monospace; } .meta { color: #555; }
.law { border: 1px solid #e3e3e3; border-radius: 4px; padding: .3em 1em 1em; margin: 1em 0; }
figure { margin: .5em 0; } img { max-width: 100%; height: auto; } figcaption { color: #777; font-size: .85em; }
.missing { color: #a3161a; font-style: italic; }
"""

VERDICTS = {True: ("holds", "holds"), False: ("does not hold", "fails"), None: ("not testable", "untestable")}


def write_report(laws: dict[str, Any], sweep_dir: Path) -> Path:
    """Write `<sweep_dir>/report.html` from a loaded `laws.json` (figure paths relative to sweep_dir); return it."""
    sweep_dir = Path(sweep_dir)
    title = f"ftscale sweep {laws.get('sweep', '')}"
    body = [
        _header(laws),
        _claims(laws.get("claims", [])),
        *_method_axis_sections(laws, sweep_dir),
        _critical(laws.get("critical", []), sweep_dir),
    ]
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    path = sweep_dir / "report.html"
    # Written beside and renamed, so a reader never sees half a report.
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _header(laws: dict[str, Any]) -> str:
    points = laws.get("points", [])
    fits = laws.get("fits", [])
    methods = _unique(p.get("method") for p in [*points, *fits])
    axes = _unique(f.get("axis") for f in fits)
    delta_h = [f["delta_h"] for f in fits if isinstance(f.get("delta_h"), int | float)]
    rows = [
        ("task", escape(str(laws.get("task", "")))),
        ("points", _num(len(points))),
        ("methods", escape(", ".join(map(str, methods)))),
        ("factor axes", escape(", ".join(map(str, axes)))),
        ("fitted laws", _num(len(fits))),
        ("largest held-out Δh", _num(max(delta_h)) if delta_h else "—"),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<h1>ftscale sweep <q>{escape(str(laws.get('sweep', '')))}</q></h1>\n<table>{table}</table>"


def _claims(claims: list[dict[str, Any]]) -> str:
    if not claims:
        return "<h2>The paper's claims</h2><p>No claim was evaluated on this sweep.</p>"
    rows = []
    for claim in sorted(claims, key=lambda c: c.get("id", 0)):
        label, css = VERDICTS.get(claim.get("holds"), VERDICTS[None])
        rows.append(
            f"<tr><td>{escape(str(claim.get('id', '')))}</td><td>{escape(str(claim.get('claim', '')))}</td>"
            f'<td class="{css}">{label}</td><td>{escape(str(claim.get("evidence", "")))}</td></tr>'
        )
    return (
        "<h2>The paper's claims on this sweep</h2>\n<table><tr><th>#</th><th>claim</th><th>verdict</th>"
        "<th>evidence</th></tr>" + "".join(rows) + "</table>"
    )


def _method_axis_sections(laws: dict[str, Any], sweep_dir: Path) -> list[str]:
    fits = laws.get("fits", [])
    comparisons = {(c.get("method"), c.get("axis")): c for c in laws.get("form_comparison", [])}
    keys = _unique([*((f.get("method"), f.get("axis")) for f in fits), *comparisons])
    sections = []
    for method, axis in keys:
        comparison = comparisons.get((method, axis))
        winner = comparison.get("winner") if comparison else None
        parts = [f"<h2>{escape(str(method))} along {escape(str(axis))}</h2>"]
        if comparison:
            parts.append(_ranking(comparison))
        ours = [f for f in fits if (f.get("method"), f.get("axis")) == (method, axis)]
        parts += [_fit(f, f.get("law") == winner, sweep_dir) for f in ours]
        sections.append("<section>" + "\n".join(parts) + "</section>")
    return sections


def _ranking(comparison: dict[str, Any]) -> str:
    winner = comparison.get("winner")
    rows = []
    for rank, entry in enumerate(comparison.get("ranking", []), start=1):
        best = entry.get("law") == winner
        mark = ' <span class="badge">best</span>' if best else ""
        row_class = ' class="winner"' if best else ""
        rows.append(
            f'<tr{row_class}><td class="num">{rank}</td>'
            f"<td>{escape(str(entry.get('law', '')))}{mark}</td>"
            f'<td class="num">{_num(entry.get("delta_e"))}</td><td class="num">{_num(entry.get("delta_h"))}</td></tr>'
        )
    return (
        f"<h3>Law forms by held-out error (best: {escape(str(winner))})</h3>\n"
        "<table><tr><th>rank</th><th>law</th><th>Δe (fit)</th><th>Δh (held out)</th></tr>" + "".join(rows) + "</table>"
    )


def _fit(fit: dict[str, Any], best: bool, sweep_dir: Path) -> str:
    intervals = fit.get("intervals") or {}
    params = "".join(
        f'<tr><td>{escape(str(name))}</td><td class="num">{_num(value)}</td>'
        f"<td>{_interval(intervals.get(name))}</td></tr>"
        for name, value in (fit.get("params") or {}).items()
    )
    facts = (
        f"Δe {_num(fit.get('delta_e'))} · Δh {_num(fit.get('delta_h'))} · fitted on {_num(fit.get('n_fit'))} points, "
        f"{_num(fit.get('n_held_out'))} held out · x = {escape(str(fit.get('x_name', '')))} · "
        f"{'converged' if fit.get('converged') else 'did not converge'}"
    )
    badge = ' <span class="badge">best form</span>' if best else ""
    return (
        f'<div class="law"><h3>{escape(str(fit.get("law", "")))} law{badge}</h3>'
        f'<p class="formula">{escape(str(fit.get("formula", "")))}</p><p class="meta">{facts}</p>'
        f"<table><tr><th>parameter</th><th>value</th><th>interval</th></tr>{params}</table>"
        f"{_figure(sweep_dir, fit.get('figure'))}</div>"
    )


def _critical(critical: list[dict[str, Any]], sweep_dir: Path) -> str:
    parts = ["<h2>Critical finetuning data sizes between methods</h2>"]
    if not critical:
        parts.append("<p>No pair of methods was compared on this sweep.</p>")
    for entry in critical:
        a, b, axis = (escape(str(entry.get(k, ""))) for k in ("method_a", "method_b", "axis"))
        rows = "".join(
            f'<tr><td class="num">{_num(x)}</td><td class="num">{"never cross" if df is None else _num(df)}</td></tr>'
            for x, df in zip(entry.get("x", []), entry.get("df_c", []), strict=False)
        )
        parts.append(
            f"<h3>{a} vs {b} along {axis}</h3><p class='meta'>The finetuning data size D<sub>f</sub><sup>c</sup> at "
            f"which {a} and {b} reach the same loss, at each value of {axis}.</p>"
            f"<table><tr><th>{axis}</th><th>D<sub>f</sub><sup>c</sup></th></tr>{rows}</table>"
            f"{_figure(sweep_dir, entry.get('figure'))}"
        )
    return "\n".join(parts)


def _figure(sweep_dir: Path, relative: str | None) -> str:
    if not relative:
        return ""
    path = sweep_dir / relative
    if not path.is_file():
        return f'<p class="missing">figure missing: {escape(str(relative))}</p>'
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{escape(str(relative))}">'
        f"<figcaption>{escape(str(relative))}</figcaption></figure>"
    )


def _interval(bounds: Any) -> str:
    if not bounds or len(bounds) != 2:
        return "—"
    return f"[{_num(bounds[0])}, {_num(bounds[1])}]"


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Data sizes and large constants read better whole, with separators, than as 1.235e+04.
        return f"{value:,.0f}" if 1e3 <= abs(value) < 1e15 else f"{value:.4g}"
    return escape(str(value))


def _unique(items: Iterable[Any]) -> list[Any]:
    """Items in first-seen order, without duplicates or Nones."""
    return [item for item in dict.fromkeys(items) if item is not None]
