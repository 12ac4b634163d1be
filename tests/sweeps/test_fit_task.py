"""The end-of-sweep fit as a task of the store: leased to the writer that completes the sweep, taken over when its
process dies (the next run, `sweep status` or `sweep point`), done exactly once per completion."""

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import ftscale.cli.sweep as sweep_cli
from ftscale.cli.main import main
from ftscale.sweeps.executors import Job
from ftscale.sweeps.layout import Target
from ftscale.sweeps.runner import fit_if_due, run_point, run_sweep
from ftscale.sweeps.store import FitTask, fit_when_due, lease_owner, open_store
from ftscale.sweeps.store.lease import Owner
from tests.sweeps.test_runner import ROOT, TEST_SPEC
from tests.sweeps.test_store import FakePoint, make_store
from tests.sweeps.test_store_leases import dead_pid

BLOCK_FIT = "FTSCALE_TEST_BLOCK_FIT"  # the fit that starts while this is set hangs, to be killed


def blocking_fit(sweep_dir: Path, store: str | None = None, wandb: str | None = None, fit_id: str | None = None):
    """Stands in for the sweep's fit: logs its start and end (hanging in between while BLOCK_FIT is set)."""
    fit_log(sweep_dir, "start", fit_id)
    if os.environ.get(BLOCK_FIT):
        time.sleep(3600)
    fit_log(sweep_dir, "end", fit_id)


def fit_log(sweep_dir: Path, event: str, fit_id: str | None) -> None:
    fd = os.open(Path(sweep_dir) / "fit.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{event} {os.getpid()} {fit_id}\n".encode())
    os.close(fd)


def fit_events(sweep_dir: Path) -> list[tuple[str, str, str]]:
    path = Path(sweep_dir) / "fit.log"
    return [tuple(line.split()) for line in path.read_text().splitlines()] if path.exists() else []


def finish_then_fit(job: Job) -> None:
    """Stands in for a point's run: records it and, as ScalingLawCallback does, fits the sweep it completed."""
    job.target.open().finish(job.point_id, job.owner, {"test/loss": 1.0})
    fit_if_due(job.target, blocking_fit, job.owner)


def finish_all_but_one(store) -> str:
    ids = [row["id"] for row in store.rows()]
    for point in ids[:-1]:
        store.claim_point(point, "earlier", lease_s=60)
        store.finish(point, "earlier", {"test/loss": 1.0})
    return ids[-1]


def complete(store, owner: str = "completer") -> None:
    last = finish_all_but_one(store)
    store.claim_point(last, owner, lease_s=60)
    assert store.finish(last, owner, {"test/loss": 1.0})


def test_the_write_that_completes_a_sweep_leases_it_the_fit_which_runs_once(url):
    store = make_store(url, 3)
    complete(store)
    task, ran = FitTask(store), []
    state = task.state()
    assert state["fit_owner"] == "completer" and state["fit_attempts"] == 1 and state["fitted_at"] is None
    assert not fit_when_due(store, ran.append, "someone-else") and not ran  # a live holder is fitting it
    assert fit_when_due(store, ran.append, "completer") and ran == [state["fit_id"]]
    assert task.state()["fitted_at"] is not None and task.state()["fit_owner"] is None
    assert not fit_when_due(store, ran.append) and not fit_when_due(store, ran.append, "completer") and len(ran) == 1


def test_a_fit_whose_process_died_on_this_machine_is_taken_over_at_once(url):
    store = make_store(url, 2)
    complete(store, owner=str(replace(Owner.parse(lease_owner()), pid=dead_pid())))  # its lease has minutes left
    ran = []
    assert fit_when_due(store, ran.append) and len(ran) == 1 and FitTask(store).state()["fit_attempts"] == 2


def test_a_fit_whose_lease_ran_out_is_taken_over(url):
    store = make_store(url, 2)
    complete(store)
    FitTask(store).claim("completer", lease_s=-1)  # its last renewal is stale: as if its process hung
    ran = []
    assert fit_when_due(store, ran.append, "next") and len(ran) == 1 and FitTask(store).state()["fit_attempts"] == 2


def test_a_fit_that_raises_is_recorded_not_retried_and_one_interrupted_is_given_back(url, caplog):
    store = make_store(url, 1)
    complete(store)

    def interrupted(fit_id: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_when_due(store, interrupted, "completer")
    state = FitTask(store).state()
    assert state["fit_owner"] is None and state["fit_attempts"] == 0 and state["fit_error"] is None

    def broken(fit_id: str) -> None:
        raise ZeroDivisionError("a bug in the fit")

    with caplog.at_level(logging.ERROR):
        assert not fit_when_due(store, broken)
    assert "ZeroDivisionError: a bug in the fit" in FitTask(store).state()["fit_error"]
    assert "ftscale law fit-sweep" in caplog.text and not fit_when_due(store, broken)


def test_a_fit_whose_process_died_three_times_is_failed(url):
    store = make_store(url, 1)
    complete(store)
    task = FitTask(store)
    for attempt in range(2, 4):
        task.expire(task.state()["fit_owner"])
        assert task.claim(f"r{attempt}") is not None and task.state()["fit_attempts"] == attempt
    task.expire("r3")
    assert task.claim("r4") is None and "died or stalled 3 times" in task.state()["fit_error"]


def test_a_sweep_reopened_by_new_points_is_fitted_anew(url):
    store = make_store(url, 1)
    complete(store)
    fit_when_due(store, lambda fit_id: None, "completer")
    first = FitTask(store).state()["fit_id"]
    store.add_points([FakePoint("p000"), FakePoint("new")])
    state = FitTask(store).state()
    assert state["completed_by"] is state["fit_id"] is state["fit_owner"] is state["fitted_at"] is None
    assert state["fit_attempts"] == 0
    store.claim_point("new", "b", lease_s=60)
    assert store.finish("new", "b", {})
    ran = []
    assert fit_when_due(store, ran.append, "b") and ran[0] != first


OLD_TABLES = (  # the tables of a store made before runner heartbeats and the fit task
    "CREATE TABLE ftscale_sweeps (name TEXT PRIMARY KEY, uid TEXT NOT NULL, completed_by TEXT, "
    "created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE ftscale_points (sweep TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, method TEXT NOT NULL, "
    "axes TEXT NOT NULL, factors TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
    "lease_owner TEXT, lease_expires DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0, metrics TEXT, "
    "error TEXT, created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, "
    "PRIMARY KEY (sweep, id))",
    "INSERT INTO ftscale_sweeps VALUES ('done', 'u1', 'old-runner', 0), ('open', 'u2', NULL, 0)",
    "INSERT INTO ftscale_points VALUES ('done', 'p0', 1, 'lora', '[]', '{}', '[]', 'done', NULL, NULL, 1, "
    "'{\"test/loss\": 1.0}', NULL, 0, 0, 0), ('open', 'q0', 1, 'lora', '[]', '{}', '[]', 'pending', NULL, NULL, 0, "
    "NULL, NULL, 0, NULL, NULL)",
)


def test_a_store_from_before_the_fit_task_is_upgraded_and_its_completed_sweeps_count_as_fitted(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        for statement in OLD_TABLES:
            conn.execute(statement)
    done = open_store(f"sqlite:///{path}?sweep=done")
    assert FitTask(done).state()["fitted_at"] is not None and done.get("p0")["heartbeat_at"] is None
    assert not fit_when_due(done, lambda fit_id: pytest.fail("fitted again"))


def test_a_postgres_store_from_before_the_fit_task_is_upgraded(postgres_url):
    import psycopg

    name = f"old_{os.getpid()}_{time.monotonic_ns()}"
    server = postgres_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(f"{server}/{name}", autocommit=True) as conn:
        for statement in OLD_TABLES:
            conn.execute(statement)
    done, open_ = open_store(f"{server}/{name}?sweep=done"), open_store(f"{server}/{name}?sweep=open")
    assert FitTask(done).state()["fitted_at"] is not None and FitTask(open_).state()["fitted_at"] is None
    open_.claim("b", lease_s=60)
    assert open_.finish("q0", "b", {}) and FitTask(open_).state()["fit_owner"] == "b"


def start_runner_that_hangs_in_its_fit(sweep_dir: Path) -> subprocess.Popen:
    code = (
        "from tests.sweeps.test_fit_task import blocking_fit, finish_then_fit; "
        "from ftscale.sweeps.runner import run_sweep; "
        f"run_sweep({TEST_SPEC!r}, {str(sweep_dir)!r}, execute=finish_then_fit, fit=blocking_fit, pretrain=False, "
        "show_progress=False)"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ | {BLOCK_FIT: "1"})


@pytest.mark.parametrize("rerun", ["sweep run", "sweep status", "sweep point"])
def test_kill_9_of_the_process_fitting_the_sweep_then_any_rerun_fits_it_once_more(
    rerun, in_repo, tmp_path, monkeypatch
):
    runner = start_runner_that_hangs_in_its_fit(tmp_path)
    while not fit_events(tmp_path):  # the fit writes its start first
        assert runner.poll() is None, "the runner ended before its fit started"
        time.sleep(0.05)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    store = Target(tmp_path).open()
    assert store.is_complete() and FitTask(store).state()["fitted_at"] is None

    if rerun == "sweep run":
        run_sweep(TEST_SPEC, tmp_path, execute=finish_then_fit, fit=blocking_fit, pretrain=False, show_progress=False)
    elif rerun == "sweep status":
        monkeypatch.setattr(sweep_cli, "complete_sweep", blocking_fit)
        assert main(["sweep", "status", str(tmp_path)]) == 0
    else:
        run_point(TEST_SPEC, store.rows()[0]["id"], tmp_path, execute=finish_then_fit, fit=blocking_fit)
    (killed, *_), fit_id = fit_events(tmp_path), FitTask(store).state()["fit_id"]
    assert fit_events(tmp_path) == [killed, ("start", str(os.getpid()), fit_id), ("end", str(os.getpid()), fit_id)]
    assert killed == ("start", str(runner.pid), fit_id)  # the same fit (one W&B run id), run to its end once more
    assert FitTask(store).state()["fitted_at"] is not None and FitTask(store).state()["fit_attempts"] == 2
    assert main(["sweep", "status", str(tmp_path)]) == 0 and len(fit_events(tmp_path)) == 3  # not again


SYNTHETIC = "tests/analysis/synthetic.py"


@pytest.mark.slow
def test_kill_9_during_the_real_fit_leaves_one_laws_json_and_one_wandb_fit_run(in_repo, tmp_path, monkeypatch):
    from tests.analysis.synthetic import HELD_OUT, make_points
    from tests.wandb_offline import read_offline_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    spec = {"name": "synthetic", "held_out": HELD_OUT}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))  # YAML reads JSON
    points = make_points(noise=0.01)
    store = open_store(tmp_path / "results.sqlite", sweep="synthetic")
    store.add_points([FakePoint(p.id, p.method, p.axes, p.factors) for p in points])
    for point in points[:-1]:
        store.claim_point(point.id, "earlier", lease_s=60)
        store.finish(point.id, "earlier", point.metrics)
    code = (
        "import json, sys; from pathlib import Path; from ftscale.reports.finalize import complete_sweep; "
        "from ftscale.sweeps.layout import Target; from ftscale.sweeps.runner import fit_if_due; "
        "from ftscale.sweeps.store import lease_owner; "
        "target = Target(Path(sys.argv[1])); store = target.open(); owner = lease_owner(); "
        "row = store.claim(owner, 600); assert store.finish(row['id'], owner, json.loads(sys.argv[2])); "
        "fit_if_due(target, complete_sweep, owner, store)"
    )
    # A process of its own, as a runner on another terminal or machine is: not attached to the W&B service an earlier
    # test started in this one (a service keeps a killed client's run id in use for a while).
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    args = [sys.executable, "-c", code, str(tmp_path), json.dumps(points[-1].metrics)]
    fitter = subprocess.Popen(args, cwd=ROOT, env=env)
    # Stopped once its W&B run exists (the fit's last part), then killed: a fit with a W&B run left half-written.
    while not list((tmp_path / "wandb").glob("offline-run-*-laws_*/run-*.wandb")):
        assert fitter.poll() is None, "the fit ended before its W&B run started"
        time.sleep(0.005)
    os.kill(fitter.pid, signal.SIGSTOP)
    assert FitTask(store).state()["fitted_at"] is None, "the fit ended before it could be killed"
    os.kill(fitter.pid, signal.SIGKILL)
    fitter.wait()

    assert main(["sweep", "status", str(tmp_path)]) == 0  # any rerun: here `sweep status`
    state = FitTask(store).state()
    assert state["fitted_at"] is not None and state["fit_attempts"] == 2
    laws = json.loads((tmp_path / "laws.json").read_text())
    assert len(laws["points"]) == len(points)
    (run,) = (tmp_path / "wandb").glob("offline-run-*")  # one W&B fit run: the killed one was set aside
    assert run.name.endswith(f"-laws_{state['fit_id']}") and read_offline_run(run)["run"]["job_type"] == "scaling-law"
    (killed,) = (tmp_path / "superseded" / "fit" / "attempt-1").iterdir()
    assert killed.name.endswith(f"-laws_{state['fit_id']}")
