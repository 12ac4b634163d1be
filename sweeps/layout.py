"""Where a sweep keeps its things: the directory layout, and the store that belongs to a directory."""

from __future__ import annotations

from pathlib import Path

import yaml

from ftscale.sweeps.points import point_dir
from ftscale.sweeps.store import Store, store_url

__all__ = ["point_dir"]  # where a point's run writes, with the rest of the layout

SPEC = "spec.yaml"  # the runner's copy of the spec: a sweep directory describes itself
LAWS = "laws.json"
REPORT = "report.html"


def open_store(sweep_dir: str | Path, store: str | None = None, sweep: str | None = None) -> Store:
    """The store of a sweep: `store` (a URL), else $FTSCALE_STORE, else the directory's SQLite file; the sweep
    is `sweep`, else the name in the directory's spec copy (a PostgreSQL store holds several sweeps)."""
    if sweep is None and (Path(sweep_dir) / SPEC).is_file():
        sweep = sweep_name(sweep_dir)
    return Store(store_url(store, Path(sweep_dir)), sweep=sweep)


def sweep_spec_path(sweep_dir: str | Path) -> Path:
    """The copy of the spec in a sweep directory; FileNotFoundError naming the directory if it has none."""
    path = Path(sweep_dir) / SPEC
    if not path.is_file():
        raise FileNotFoundError(f"{sweep_dir}: not a sweep directory (no {SPEC}); run `ftscale sweep run SPEC` first")
    return path


def sweep_name(sweep_dir: str | Path) -> str:
    """The sweep's name, read from its spec copy as plain YAML (no validation, no torch)."""
    return str(yaml.safe_load(sweep_spec_path(sweep_dir).read_text())["name"])
