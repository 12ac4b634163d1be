"""Every done point logged to W&B exactly once: live by its runner, else by the next fit; failures retried later."""

from collections import Counter
from pathlib import Path

import pytest
import wandb

from ftscale.sweeps import wandb_log
from ftscale.sweeps.store import Store
from ftscale.sweeps.wandb_points import log_finished_point, log_point_once, log_unlogged_points
from tests.sweeps.test_store import FakePoint
from tests.sweeps.wandb_offline import read_offline_run


@pytest.fixture
def sweep(monkeypatch, tmp_path) -> Store:
    """A sweep directory named `demo` whose store holds three points, two of them done; W&B offline."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SERVICE", "WANDB_PROJECT", "NETRC", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(wandb_log, "_warned", False)
    (tmp_path / "spec.yaml").write_text("name: demo\n")
    store = Store(tmp_path / "results.sqlite")
    store.add_points([FakePoint(f"p{i}", factors={"train_size": 8 * (i + 1)}) for i in range(3)])
    for point_id in ("p0", "p1"):
        store.claim_point(point_id, "runner", lease_s=60)
        store.finish(point_id, "runner", {"test/loss": 2.0 + int(point_id[1:])})
    return store


def logged(sweep_dir: Path) -> Counter:
    runs = [read_offline_run(path)["run"] for path in (sweep_dir / "wandb").glob("offline-run-*")]
    assert all(run["job_type"] == "finetune" and run["group"] == "demo" for run in runs)
    return Counter(run["name"] for run in runs)


def test_a_point_logged_live_is_not_logged_again_by_the_runner_or_the_fit(sweep, tmp_path):
    log_finished_point(tmp_path, "p0")
    log_finished_point(tmp_path, "p0")  # a second report of the same point (e.g. a resumed runner)
    log_finished_point(tmp_path, "p2")  # not done: nothing to log
    assert logged(tmp_path) == {"p0": 1}
    # p1's runner died before logging it: the fit logs it, and only it, once.
    assert log_unlogged_points(tmp_path, sweep, "demo", "offline") == 1
    assert log_unlogged_points(tmp_path, sweep, "demo", "offline") == 0
    assert logged(tmp_path) == {"p0": 1, "p1": 1}
    (p1,) = [
        path for path in (tmp_path / "wandb").glob("offline-run-*") if read_offline_run(path)["run"]["name"] == "p1"
    ]
    run = read_offline_run(p1)
    assert run["config"]["train_size"] == 16 and run["summary"]["test/loss"] == 3.0


def test_with_wandb_off_nothing_is_marked_so_a_later_fit_logs_the_points(sweep, tmp_path):
    log_finished_point(tmp_path, "p0", wandb="off")
    assert not (tmp_path / "wandb").exists() and sweep.get("p0")["wandb_logged"] == 0
    assert log_unlogged_points(tmp_path, sweep, "demo", "offline") == 2


def test_a_failed_logging_leaves_the_point_for_the_next_try(sweep, tmp_path, monkeypatch):
    def broken(**_):
        raise RuntimeError("W&B is down")

    with monkeypatch.context() as patch:
        patch.setattr(wandb, "init", broken)
        assert not log_point_once(tmp_path, sweep, sweep.get("p0"), "demo", "offline")
    assert sweep.get("p0")["wandb_logged"] == 0
    assert log_point_once(tmp_path, sweep, sweep.get("p0"), "demo", "offline")
    assert logged(tmp_path) == {"p0": 1}
