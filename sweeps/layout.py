"""Where a sweep keeps its things: the directory layout, the store that belongs to a directory, the W&B run ids of
its points and fits, and where an interrupted attempt's leftovers are set aside."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ftscale.errors import MissingFileError
from ftscale.sweeps.points import point_dir
from ftscale.sweeps.store import Store, store_url, without_password

__all__ = ["point_dir"]  # where a point's run writes, with the rest of the layout

SPEC = "spec.yaml"  # the runner's copy of the spec: a sweep directory describes itself
LAWS = "laws.json"
REPORT = "report.html"
WANDB = "wandb"  # the W&B run directories of the points and fits (`<sweep_dir>/wandb/`)
SUPERSEDED = "superseded"  # an interrupted attempt's W&B runs, set aside when the point or fit runs again
LIGHTNING_LOGS = "lightning_logs"  # Lightning's own logs of a run, one `version_*` per attempt
MARKER = "SUPERSEDED"  # in the `version_*` of an attempt that ended without the point's result


@dataclass(frozen=True)
class Target:
    """Where a sweep's points run and record: its directory, its store (URL; None: the directory's SQLite file)
    and the W&B mode its runs and its fit log with. The URL never holds a password: it is saved with every point
    (config.yaml) and handed to other processes. A password given in it is taken out; opening the store with the
    whole URL first (`prepare_sweep` does) hands the password to libpq through $PGPASSWORD (`PostgresBackend`)."""

    sweep_dir: Path
    store: str | None = None
    wandb: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", without_password(self.store))

    def open(self) -> Store:
        return open_store(self.sweep_dir, self.store)


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
        raise MissingFileError(f"{sweep_dir}: not a sweep directory (no {SPEC}); run `ftscale sweep run SPEC` first")
    return path


def sweep_name(sweep_dir: str | Path) -> str:
    """The sweep's name, read from its spec copy as plain YAML (no validation, no torch)."""
    return str(yaml.safe_load(sweep_spec_path(sweep_dir).read_text())["name"])


def point_run_id(point_id: str, sweep_uid: str) -> str:
    """The W&B run id of a point: fixed per point and store, so a resumed point continues its run."""
    return f"{point_id}-{sweep_uid}"


def fit_run_id(fit_id: str) -> str:
    """The W&B run id of a sweep's fit: fixed per completion (`fit_id`), so a fit run again after its process
    died is the same run, and a sweep completed anew (new points) is fitted as a new one."""
    return f"laws_{fit_id}"


def set_aside(sweep_dir: str | Path, run_id: str, into: Path) -> Path | None:
    """Move the W&B run directories (online or offline) an unfinished earlier attempt of run `run_id` left into a
    new folder `into/attempt-<n>`, out of the way of the attempt about to start, so that `wandb sync` of
    `<sweep_dir>/wandb/*` uploads each run once. Return that folder, None if nothing was left."""
    wandb_dir = Path(sweep_dir) / WANDB
    runs = sorted(path for path in wandb_dir.glob(f"*-{run_id}") if path.is_dir()) if wandb_dir.is_dir() else []
    if not runs:
        return None
    earlier = sum(1 for _ in into.glob("attempt-*")) if into.is_dir() else 0
    folder = into / f"attempt-{earlier + 1}"
    folder.mkdir(parents=True)
    for path in runs:
        shutil.move(str(path), folder / path.name)
    return folder


def mark_superseded(run_dir: Path) -> None:
    """Mark the Lightning logs of a point's earlier attempts (`lightning_logs/version_*`, one per attempt) with a
    SUPERSEDED file before it runs again: left in place, as a resumed attempt may still test the best checkpoint
    kept there, but plainly not the attempt whose result counts (the newest version is)."""
    for version in sorted((run_dir / LIGHTNING_LOGS).glob("version_*")):
        marker = version / MARKER
        if version.is_dir() and not marker.exists():
            marker.write_text(
                "This attempt of the point ended without its result (killed, interrupted or failed); the point was "
                "run again: its result is in the sweep's store, its logs in the newest version_* beside this one.\n"
            )
