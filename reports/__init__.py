"""Reporting a fitted sweep: its sections built once (`sections.py`), then rendered as a self-contained
`report.html` and to W&B (a `scaling-law` run with tables and figures, and a W&B Report)."""
