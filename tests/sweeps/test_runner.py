"""The runner: resume after kill -9, two runners sharing a sweep, failures recorded, the sweep fitted once."""

import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from jsonargparse import ArgumentError

from ftscale.cli.main import main
from ftscale.sweeps.executors import InProcess, Job
from ftscale.sweeps.layout import Target, point_run_id
from ftscale.sweeps.runner import drain, fit_if_due, prepare_sweep, run_point, run_sweep
from ftscale.sweeps.spec import load_spec
from ftscale.sweeps.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]  # not from conftest: the killed runner imports this module, kept light

TEST_SPEC = "configs/sweeps/test.yaml"
BLOCK_AT = "FTSCALE_TEST_BLOCK_AT"  # the fake run that starts as number N (1-based) hangs, to be killed
RUNNERS = "FTSCALE_TEST_RUNNERS"  # fake runs wait until this many runners have started one


def log(job: Job, event: str) -> None:
    # One short O_APPEND write per line: whole lines even when runners append at once or are killed.
    fd = os.open(job.target.sweep_dir / "executions.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{event} {job.point_id} {job.owner}\n".encode())
    os.close(fd)


def events(sweep_dir: Path) -> list[tuple[str, str, str]]:
    path = sweep_dir / "executions.log"
    return [tuple(line.split()) for line in path.read_text().splitlines()] if path.exists() else []


def fake_execute(job: Job) -> None:
    """Stands in for training: logs the run, takes a moment, records a result like ScalingLawCallback."""
    log(job, "start")
    sweep_dir = job.target.sweep_dir
    started = sum(e[0] == "start" for e in events(sweep_dir))
    if os.environ.get(BLOCK_AT) == str(started):
        time.sleep(3600)
    # Each run waits until as many runners as the test asks for have started one (a count, not a time).
    while len({e[2] for e in events(sweep_dir)}) < int(os.environ.get(RUNNERS, "1")):
        time.sleep(0.05)
    time.sleep(float(os.environ.get("FTSCALE_TEST_DELAY", "0.05")))
    job.target.open().finish(job.point_id, job.owner, {"test/loss": 1.0, "args": job.args})
    fit_if_due(job.target, hook, job.owner)  # as the callback does: fits the sweep its result completed
    log(job, "end")


def failing_execute(job: Job) -> None:
    """Fails the points on model size s, like a run that raises."""
    if "ladder:s@393216" in job.args:
        raise ValueError(f"boom in {job.point_id}")
    fake_execute(job)


def silent_execute(job: Job) -> None:
    """Returns without recording a result."""


def hook(sweep_dir: Path, store: str | None = None, wandb: str | None = None, fit_id: str | None = None) -> None:
    """Stands in for the sweep's fit (`complete_sweep`): counts its calls."""
    with open(Path(sweep_dir) / "hook.log", "a") as out:
        out.write(f"{os.getpid()} {fit_id}\n")


def hook_calls(sweep_dir: Path) -> int:
    path = sweep_dir / "hook.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def fake_run(sweep_dir: Path, execute=fake_execute, **kwargs) -> Store:
    return run_sweep(TEST_SPEC, sweep_dir, execute=execute, fit=hook, pretrain=False, show_progress=False, **kwargs)


def test_a_sweep_runs_every_point_once_and_a_rerun_runs_none(in_repo, tmp_path):
    spec = load_spec(TEST_SPEC)
    store = fake_run(tmp_path)
    rows = store.rows()
    assert [r["id"] for r in rows] == [p.id for p in spec.points()]
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    # Each run got the point's arguments, its own directory and the recording callback.
    for row, point in zip(rows, spec.points(), strict=True):
        args = row["metrics"]["args"]
        assert args[: len(point.cli_args(tmp_path))] == point.cli_args(tmp_path)
        assert any(a.startswith("--trainer.callbacks+=") and point.id in a for a in args)
    assert hook_calls(tmp_path) == 1 and (tmp_path / "spec.yaml").is_file()

    fake_run(tmp_path)
    assert len(events(tmp_path)) == 2 * len(rows) and hook_calls(tmp_path) == 1


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(in_repo, tmp_path):
    store = fake_run(tmp_path, execute=failing_execute)
    rows = store.rows()
    failed = [r for r in rows if r["status"] == "failed"]
    on_s = [p for p in load_spec(TEST_SPEC).points() if p.factors["model_size"] == "s"]
    assert {r["factors"]["model_size"] for r in failed} == {"s"} and len(failed) == len(on_s)
    assert all(f"ValueError: boom in {r['id']}" in r["error"] for r in failed)
    assert sum(r["status"] == "done" for r in rows) == len(rows) - len(on_s)
    assert hook_calls(tmp_path) == 1  # the sweep is complete, failures included

    fake_run(tmp_path)  # failed points stay failed unless asked
    assert store.counts()["failed"] == len(on_s)
    fake_run(tmp_path, retry_failed=True)
    assert store.counts()["done"] == len(rows)
    runs = Counter(point for event, point, _ in events(tmp_path) if event == "end")
    assert set(runs.values()) == {1}  # done points were never rerun
    assert hook_calls(tmp_path) == 2  # reopened by the retry, completed again


def test_one_point_runs_by_id_into_the_store_that_runners_share(in_repo, tmp_path):
    first, *rest = load_spec(TEST_SPEC).points()
    run = {"execute": fake_execute, "fit": hook}
    assert run_point(TEST_SPEC, first.id, tmp_path, **run) == "done"
    assert [e[:2] for e in events(tmp_path)] == [("start", first.id), ("end", first.id)]
    assert run_point(TEST_SPEC, first.id, tmp_path, **run) == "done" and len(events(tmp_path)) == 2  # not rerun
    store = fake_run(tmp_path)  # a runner takes the rest, never that point again
    assert store.is_complete() and Counter(e[1] for e in events(tmp_path) if e[0] == "start")[first.id] == 1
    assert hook_calls(tmp_path) == 1

    # The point that completes a sweep fires the completion hook, also when run by id.
    other = tmp_path / "other"
    _, target = prepare_sweep(TEST_SPEC, other)
    store = target.open()
    for point in rest:
        row = store.claim_point(point.id, "me", lease_s=60)
        store.finish(row["id"], "me", {"test/loss": 1.0})
    assert run_point(TEST_SPEC, first.id, other, **run) == "done" and hook_calls(other) == 1


def test_a_failed_point_runs_again_by_id_only_when_asked(in_repo, tmp_path):
    on_s = next(p for p in load_spec(TEST_SPEC).points() if p.factors["model_size"] == "s")
    assert run_point(TEST_SPEC, on_s.id, tmp_path, execute=failing_execute) == "failed"
    assert "boom in" in Target(tmp_path).open().get(on_s.id)["error"]
    assert run_point(TEST_SPEC, on_s.id, tmp_path, execute=fake_execute) == "failed" and not events(tmp_path)
    assert run_point(TEST_SPEC, on_s.id, tmp_path, execute=fake_execute, retry_failed=True) == "done"


def test_an_unknown_point_id_is_one_error_line(in_repo, tmp_path, capsys):
    assert main(["sweep", "point", TEST_SPEC, "--point=nope", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no point 'nope' in ")


def test_a_point_that_fails_before_its_trainer_exists_records_its_exception_not_a_log_line(in_repo, tmp_path):
    from ftscale.cli.lightning import main as fit
    from ftscale.cli.sweep import _last_line
    from tests.sweeps.test_store import FakePoint

    store = open_store(tmp_path / "results.sqlite", sweep="bad")
    backbone = str(tmp_path / "no-such-model")
    args = ("fit", "--config", "configs/quickstart.yaml", "--model.backbone", backbone)
    store.add_points([FakePoint("p0", args=args)])
    drain(Target(tmp_path), execute=InProcess(fit))
    error = store.get("p0")["error"]
    assert error.startswith("Traceback") and f"--- last lines of {tmp_path}" in error  # the exception, then the log
    assert "Error: " in _last_line(error) and backbone in _last_line(error)  # what `sweep status` shows: the cause


def test_a_run_that_records_nothing_is_a_failure(in_repo, tmp_path):
    store = fake_run(tmp_path, execute=silent_execute)
    assert store.counts()["failed"] == len(store.rows())
    assert "without recording a result" in store.rows()[0]["error"]


def test_kill_9_mid_sweep_then_rerun_loses_nothing_and_reruns_nothing(in_repo, tmp_path):
    spec = load_spec(TEST_SPEC)
    store = Target(tmp_path).open()
    store.add_points(spec.points())
    # The runner leases its points for an hour: only seeing that it died can end its point's lease early.
    code = (
        "from pathlib import Path; from tests.sweeps.test_runner import fake_execute; "
        "from ftscale.sweeps.layout import Target; from ftscale.sweeps.runner import drain; "
        f"drain(Target(Path({str(tmp_path)!r})), execute=fake_execute, lease_s=3600)"
    )
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ | {BLOCK_AT: "4"})
    while sum(e[0] == "start" for e in events(tmp_path)) < 4:
        assert runner.poll() is None, "the runner ended before it started its fourth point"
        time.sleep(0.05)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    before = {r["id"] for r in store.rows() if r["status"] == "done"}
    killed = events(tmp_path)[-1][1]
    assert len(before) == 3 and store.get(killed)["status"] == "running"

    # What a real run leaves: Lightning's logs of the attempt and its W&B run directory (another point's too).
    wandb_run, done_run = (
        tmp_path / "wandb" / f"offline-run-20250101_000000-{point_run_id(point, store.sweep_uid())}"
        for point in (killed, next(iter(before)))
    )
    leftovers = [wandb_run, tmp_path / "points" / killed / "lightning_logs" / "version_0", done_run]
    for leftover in leftovers:
        leftover.mkdir(parents=True)

    # Its lease has most of an hour to run: the rerun sees that its runner died on this machine and takes it over.
    drain(Target(tmp_path), execute=fake_execute, lease_s=3600)
    assert not leftovers[0].exists()  # set aside: the point's W&B run is one directory again
    assert (tmp_path / "points" / killed / "superseded" / "attempt-1" / leftovers[0].name).is_dir()
    assert (leftovers[1] / "SUPERSEDED").is_file() and leftovers[2].is_dir()  # marked; another run's left alone
    rows = store.rows()
    assert sorted(r["id"] for r in rows) == sorted(p.id for p in spec.points())
    assert all(r["status"] == "done" for r in rows)
    ends = Counter(point for event, point, _ in events(tmp_path) if event == "end")
    assert set(ends) == {r["id"] for r in rows} and set(ends.values()) == {1}
    starts = Counter(point for event, point, _ in events(tmp_path) if event == "start")
    assert starts[killed] == 2 and store.get(killed)["attempts"] == 2
    assert all(starts[point] == 1 for point in before)


def test_two_runner_processes_share_a_sweep_and_the_hook_fires_once(in_repo, tmp_path, monkeypatch):
    monkeypatch.setenv(RUNNERS, "2")  # so that both really run at once, however slowly one of them starts
    store = fake_run(tmp_path, workers=2)
    rows = store.rows()
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    ends = [(point, owner) for event, point, owner in events(tmp_path) if event == "end"]
    assert sorted(point for point, _ in ends) == sorted(r["id"] for r in rows)
    assert len({owner.split(":")[1] for _, owner in ends}) == 2  # both runner processes (pids) did work
    assert hook_calls(tmp_path) == 1
    assert store.completed_by() in {owner for _, owner in ends}


def test_an_in_process_run_logs_into_its_point_and_reports_why_it_exited(in_repo, tmp_path, capfd):
    from ftscale.cli.lightning import main as fit

    log_path = tmp_path / "run.log"
    job = Job(
        "p0", ["fit", "--config", "configs/quickstart.yaml", "--no_such_option", "1"], "me", log_path, Target(tmp_path)
    )
    with pytest.raises(ArgumentError, match="no_such_option"):  # the run's own exception, not its exit code
        InProcess(fit)(job)
    out, err = capfd.readouterr()
    assert "no_such_option" not in out + err and "ArgumentError" in log_path.read_text()


def test_status_summarises_a_sweep_directory(in_repo, tmp_path, capsys):
    store = fake_run(tmp_path, execute=failing_execute)
    assert main(["sweep", "status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(r["id"] in out for r in store.rows())
    failed = sum(r["factors"]["model_size"] == "s" for r in store.rows())
    assert f"0 pending, 0 running, {len(store.rows()) - failed} done, {failed} failed (complete)" in out
    assert "ValueError: boom in" in out
    assert main(["sweep", "status", str(tmp_path / "nope")]) == 2


@pytest.mark.slow
def test_the_test_sweep_runs_for_real_and_stores_metrics_for_every_point(in_repo, test_ladder, tmp_path):
    from ftscale.cli.sweep import in_process

    store = run_sweep(TEST_SPEC, tmp_path, execute=in_process(), fit=hook, show_progress=False)
    rows = store.rows()
    assert len(rows) == len(load_spec(TEST_SPEC).points())
    for row in rows:
        metrics = row["metrics"]
        assert row["status"] == "done", row["error"]
        assert math.isfinite(metrics["test/loss"]) and metrics["test/ppl"] == pytest.approx(
            math.exp(metrics["test/loss"]), rel=1e-4
        )
        assert math.isfinite(metrics["val/loss"]) and metrics["steps"] == 4 and metrics["tokens_seen"] > 0
        full = row["method"] == "fmt"
        assert (metrics["trainable_params"] == metrics["total_params"]) == full
        assert (tmp_path / "points" / row["id"] / "run.log").is_file()
    xs_lora = [r for r in rows if r["method"] == "lora" and r["factors"]["model_size"] == "xs"]
    lora = {r["factors"]["pet_size"]: r["metrics"]["trainable_params"] for r in xs_lora}
    assert lora[2] < lora[4]
    # The run that completed the sweep fitted it (its ScalingLawCallback); the runner's hook is only for runs
    # that die before their Trainer exists.
    assert hook_calls(tmp_path) == 0 and (tmp_path / "laws.json").is_file() and (tmp_path / "report.html").is_file()
