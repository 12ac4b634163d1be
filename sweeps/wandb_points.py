"""Each done point of a sweep logged to W&B exactly once: live by the runner that ran it, else by the next fit."""

from pathlib import Path

import yaml

from ftscale.sweeps.laws import point_record
from ftscale.sweeps.runner import SPEC, STORE
from ftscale.sweeps.store import Store
from ftscale.sweeps.wandb_log import log_point, wandb_mode


def sweep_name(sweep_dir: Path) -> str:
    """The sweep's name, from the spec copy in its directory (read as YAML: no validation, no torch)."""
    return yaml.safe_load((Path(sweep_dir) / SPEC).read_text())["name"]


def log_point_once(sweep_dir: Path, store: Store, row: dict, name: str, mode: str) -> bool:
    """Log a done point as a `finetune` run unless it was logged before; True if this call logged it.

    The store marks it first, so that of two processes that would log it (a runner and a fit) one does;
    a logging that fails unmarks it, for the next fit to try again. `disabled` marks nothing.
    """
    if mode == "disabled" or not store.take_wandb_log(row["id"]):
        return False
    if log_point(sweep_dir, name, point_record(row), mode) is None:
        store.release_wandb_log(row["id"])
        return False
    return True


def log_finished_point(sweep_dir: Path, point_id: str, wandb: str | None = None) -> None:
    """The runner's `on_done` hook: log the point it just finished, so that a dashboard follows the sweep live."""
    sweep_dir = Path(sweep_dir)
    store = Store(sweep_dir / STORE)
    row = store.get(point_id)
    if row is not None and row["status"] == "done":
        log_point_once(sweep_dir, store, row, sweep_name(sweep_dir), wandb_mode(wandb))


def log_unlogged_points(sweep_dir: Path, store: Store, name: str, mode: str) -> int:
    """Log the done points no runner logged (W&B was off, failed, or the runner died first); return how many."""
    rows = [row for row in store.rows() if row["status"] == "done" and not row["wandb_logged"]]
    return sum(log_point_once(sweep_dir, store, row, name, mode) for row in rows)
