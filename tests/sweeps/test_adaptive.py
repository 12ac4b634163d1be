"""Adaptive sweeps (`sweep run --select`): stages open one by one, each elimination is recorded with its reason, the
selection after a stage is done once (also when its process is killed), on both stores; bad input is one line; and
one real run on tiny models."""

import math
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ftscale.cli.main import main
from ftscale.reports.adaptive import adaptive_lines
from ftscale.sweeps.adaptive import Adaptive
from ftscale.sweeps.executors import Job
from ftscale.sweeps.layout import Target
from ftscale.sweeps.migrate import migrate
from ftscale.sweeps.runner import drain, prepare_sweep, run_sweep
from ftscale.sweeps.stage_selection import decide
from ftscale.sweeps.store import open_store
from ftscale.sweeps.store.stages import Elimination, PlannedPoint, StageOutcome, StageTask, select_when_due
from ftscale.sweeps.store.url import parse, with_sweep
from tests.sweeps.test_runner import ROOT, TEST_SPEC, events, hook, hook_calls, log
from tests.sweeps.test_store import FakePoint

TARGET = 128  # the largest finetuning size of the spec below
# Each candidate's loss is E + (Df / 8)^-0.5 plus a small noise of the size and seed; fmt/s and lora/s are the same
# curve (a tie no selection can break), the others lie well above them.
FLOOR = {"fmt/s": 1.6, "lora/s/pet=4": 1.6, "fmt/xs": 2.0, "lora/xs/pet=4": 2.5, "lora/xs/pet=2": 2.6,
         "lora/xs/pet=8": 2.4}  # fmt: skip
BEST = {"fmt/s", "lora/s/pet=4"}
FAIL_ONCE = "FTSCALE_TEST_FAIL_ONCE"  # a candidate whose first stage-0 point fails the first time it runs
BLOCK = "FTSCALE_TEST_BLOCK_SELECTION"  # the selection that starts while this is set hangs, to be killed


def adaptive_spec(directory: Path, name: str, **changes) -> Path:
    """configs/sweeps/test.yaml with 5 finetuning sizes (8 ... 128) and 2 seeds: 6 candidates (fmt and LoRA on xs and
    s, LoRA ranks 2 and 8 on xs), 60 points, each capped at 4 steps."""
    spec = yaml.safe_load((ROOT / TEST_SPEC).read_text())
    spec |= {"name": name, "train_sizes": [8, 16, 32, 64, TARGET], "seeds": [0, 1]} | changes
    spec["axes"]["pet_size"] = {"lora": {"model.rank": [2, 8]}}
    spec["data"]["pool_size"] = TARGET
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def true_loss(candidate: str, train_size: int, seed: int) -> float:
    noise = (zlib.crc32(f"{train_size}-{seed}".encode()) % 1000 / 1000 - 0.5) * 0.02
    return FLOOR[candidate] + (train_size / 8) ** -0.5 + noise


def law_execute(job: Job) -> None:
    """Stands in for training: records the candidate's loss at the point's size and seed, as the callback would."""
    log(job, "start")
    store = job.target.open()
    row = store.get(job.point_id)
    marker = job.target.sweep_dir / "failed-once"
    if row["candidate"] == os.environ.get(FAIL_ONCE) and row["stage"] == 0 and not marker.exists():
        marker.write_text(job.point_id)
        raise ValueError(f"boom in {job.point_id}")
    loss = true_loss(row["candidate"], *_size_seed(row))
    log(job, "end")  # before the result: once it is written, another runner may open the next stage
    store.finish(job.point_id, job.owner, {"test/loss": loss})


def run(spec: Path, sweep_dir: Path, **kwargs):
    kwargs.setdefault("adaptive", Adaptive(TARGET))
    return run_sweep(spec, sweep_dir, execute=law_execute, fit=hook, pretrain=False, show_progress=False, **kwargs)


def assert_stage_by_stage(sweep_dir: Path, rows: list[dict]) -> None:
    """No point started before every point of the stages before it had ended."""
    stage = {r["id"]: r["stage"] for r in rows}
    ended: Counter = Counter()
    for event, point, _ in events(sweep_dir):
        if event == "start":
            before = sum(1 for r in rows if r["stage"] < stage[point] and r["status"] == "done")
            assert sum(n for s, n in ended.items() if s < stage[point]) == before, f"{point} started too early"
        else:
            ended[stage[point]] += 1


@pytest.fixture
def sweep(url, tmp_path) -> tuple[Path, str]:
    """An adaptive test spec named as conftest's store `url` (SQLite file or PostgreSQL), and that URL."""
    (tmp_path / "s").mkdir()
    return adaptive_spec(tmp_path, parse(url).sweep), url


def test_stages_open_one_by_one_and_each_elimination_is_recorded_with_its_reason(in_repo, tmp_path, sweep):
    spec, url = sweep
    store = run(spec, tmp_path / "s", store=url, workers=2)
    rows = store.rows()
    assert_stage_by_stage(tmp_path / "s", rows)
    state = StageTask(store).state()
    dropped = {e["candidate"]: e for e in state["eliminations"]}
    assert set(dropped) == set(FLOOR) - BEST  # the clearly worse ones, never the tie
    for name, e in dropped.items():
        assert e["p_worse"] >= 0.95 and e["leader"] in BEST and e["loss"] > e["leader_loss"]
        assert e["low"] <= e["loss"] <= e["high"] and e["leader_low"] <= e["leader_loss"] <= e["leader_high"]
        later = [r for r in rows if r["candidate"] == name and r["stage"] > e["stage"]]
        assert later and {r["status"] for r in later} == {"skipped"}
    ran = {point for event, point, _ in events(tmp_path / "s") if event == "start"}
    assert ran == {r["id"] for r in rows if r["status"] == "done"}  # skipped points never ran
    # The tie runs to the largest size; every stage was selected once, and the choice is one of the tie.
    assert {r["status"] for r in rows if r["candidate"] in BEST} == {"done"}
    stages = state["stages"]
    assert [s["stage"] for s in stages] == [0, 1, 2] and all(s["attempts"] == 1 for s in stages)
    assert all(s["selected_at"] is not None for s in stages) and state["current"] is None
    last = stages[-1]["result"]
    assert last["choice"] in BEST and "larger finetuning size" in last["stopped"] and 0 < last["p_best"] <= 1
    assert store.is_complete() and hook_calls(tmp_path / "s") == 1
    lines = adaptive_lines(store)
    assert any(line.startswith(f"choice: {last['choice']}, P(best)") for line in lines)
    assert sum(line.startswith("  dropped ") for line in lines) == len(dropped)

    run(spec, tmp_path / "s", store=url)  # a rerun runs nothing and selects nothing
    assert len(events(tmp_path / "s")) == 2 * len(ran) and hook_calls(tmp_path / "s") == 1
    assert StageTask(store).state()["stages"] == stages


def test_the_budget_stops_the_sweep_before_a_stage_that_would_spend_more(in_repo, tmp_path):
    spec = adaptive_spec(tmp_path, "budget")
    # Every point plans 4 steps: stage 0 is 60% of the full sweep, stage 1 for the two left would make it 66.7%.
    store = run(spec, tmp_path / "s", adaptive=Adaptive(TARGET, budget=0.65))
    (stage,) = StageTask(store).state()["stages"]
    result = stage["result"]
    assert "beyond the budget of 65.0%" in result["stopped"] and result["choice"] in BEST
    assert result["planned_steps"] == {"opened": 144, "full": 240}
    assert {r["status"] for r in store.rows() if r["stage"] != 0} == {"skipped"} and hook_calls(tmp_path / "s") == 1


def test_a_failed_point_blocks_the_selection_until_it_is_retried(in_repo, tmp_path, monkeypatch):
    monkeypatch.setenv(FAIL_ONCE, "fmt/s")
    spec = adaptive_spec(tmp_path, "failed")
    store = run(spec, tmp_path / "s")
    assert store.counts()["failed"] == 1 and store.counts()["held"] > 0 and hook_calls(tmp_path / "s") == 0
    assert any("waits for 1 failed points" in line for line in adaptive_lines(store))
    run(spec, tmp_path / "s")  # not retried unless asked: still blocked
    assert StageTask(store).state()["stages"][0]["selected_at"] is None
    run(spec, tmp_path / "s", retry_failed=True)
    assert store.is_complete() and store.counts()["failed"] == 0 and hook_calls(tmp_path / "s") == 1
    assert StageTask(store).state()["stages"][-1]["result"]["choice"] in BEST


def blocking_decide(stage: int, rows: list, settings: dict, eliminated: set) -> StageOutcome:
    """Stands in for the selection: logs its start, then hangs while BLOCK is set."""
    with open(Path(os.environ[BLOCK]) / "selection.log", "a") as out:
        out.write(f"start {os.getpid()}\n")
    time.sleep(3600)
    raise AssertionError("not reached")


def test_kill_9_during_the_selection_then_a_rerun_selects_once(in_repo, tmp_path):
    spec = adaptive_spec(tmp_path, "kill")
    _, target = prepare_sweep(spec, tmp_path / "s", adaptive=Adaptive(TARGET))
    store = target.open()
    for row in store.rows():
        if row["status"] == "pending":  # stage 0, recorded as its runs would
            store.claim_point(row["id"], "earlier", lease_s=60)
            store.finish(row["id"], "earlier", {"test/loss": true_loss(row["candidate"], *_size_seed(row))})
    code = (
        "import sys; from ftscale.sweeps.store import open_store; from ftscale.sweeps.store.stages import "
        "select_when_due; from tests.sweeps.test_adaptive import blocking_decide; "
        f"select_when_due(open_store({str(tmp_path / 's' / 'results.sqlite')!r}), blocking_decide, lease_s=3600)"
    )
    selector = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ | {BLOCK: str(tmp_path)})
    while not (tmp_path / "selection.log").exists():
        assert selector.poll() is None, "the selection ended before it started"
        time.sleep(0.05)
    os.kill(selector.pid, signal.SIGKILL)
    selector.wait()
    state = StageTask(store).state()
    assert state["current"]["owner"].split(":")[1] == str(selector.pid) and not state["eliminations"]
    assert store.counts()["held"] == 24  # nothing of the killed selection was written

    # Its lease has most of an hour to run: the rerun sees that its holder died on this machine and takes it over.
    drain(Target(tmp_path / "s"), execute=law_execute, fit=hook)
    stages = StageTask(store).state()["stages"]
    assert stages[0]["attempts"] == 2 and all(s["selected_at"] is not None for s in stages)
    assert store.is_complete() and hook_calls(tmp_path / "s") == 1
    assert StageTask(store).state()["eliminations"]  # the rerun's decision, written once


def _size_seed(row: dict) -> tuple[int, int]:
    return row["factors"]["train_size"], row["factors"]["seed"]


def configured(url: str, loss=lambda candidate, df: 1.0) -> StageTask:
    """A store of candidates a and b, each at Df 8, 16, 32, 64 (stage 0: the first three), made adaptive by hand;
    stage 0 done with `loss(candidate, df)`."""
    store = open_store(url)
    points = {f"{c}{i}": (c, 8 * 2**i, max(0, i - 2)) for c in "ab" for i in range(4)}
    store.add_points([FakePoint(key, factors={"train_size": df, "seed": 0}) for key, (_, df, _) in points.items()])
    task = StageTask(store)
    task.configure(Adaptive(64).settings(), {key: PlannedPoint(c, stage, 1) for key, (c, _, stage) in points.items()})
    for key, (candidate, df, stage) in points.items():
        if stage == 0:
            store.claim_point(key, "r", lease_s=60)
            store.finish(key, "r", {"test/loss": loss(candidate, df)})
    return task


def test_a_candidate_whose_training_diverged_is_dropped_with_that_reason(url):
    task = configured(url, lambda candidate, df: math.nan if (candidate, df) == ("b", 16) else 2 + df**-0.5)
    assert select_when_due(task.store, decide) == (True, True)  # a alone is left: the sweep stops
    (e,) = task.state()["eliminations"]
    assert e["candidate"] == "b" and e["p_worse"] == 1.0 and math.isinf(e["loss"]) and e["leader"] == "a"
    dropped = Elimination(**{k: e[k] for k in Elimination.__dataclass_fields__})
    assert "not a finite number (its training diverged)" in dropped.reason()
    assert task.state()["stages"][0]["result"]["choice"] == "a" and task.store.is_complete()


DROP_B = StageOutcome(0, (Elimination("b", 0, 0.99, 2.0, 1.9, 2.1, "a", 1.0, 0.9, 1.1),), ("a",), {"why": "test"})


def test_a_holder_whose_lease_was_taken_over_writes_nothing(url):
    task = configured(url)
    assert task.claim("first", lease_s=-1) == 0  # its lease has run out at once: as if its process hung
    assert task.claim("second") == 0 and task.state()["current"]["attempts"] == 2
    assert task.commit("first", DROP_B) is None and not task.state()["eliminations"]
    assert task.commit("second", DROP_B) is False  # the next stage opened: not complete
    assert task.commit("second", DROP_B) is None  # done once
    rows = {r["id"]: r["status"] for r in task.store.rows()}
    assert rows["a3"] == "pending" and rows["b3"] == "skipped" and task.state()["current"]["stage"] == 1
    (e,) = task.state()["eliminations"]
    assert Elimination(**{k: e[k] for k in Elimination.__dataclass_fields__}) == DROP_B.eliminated[0]


def test_an_adaptive_sweep_survives_migration_with_its_stages_and_eliminations(tmp_path, postgres_url):
    task = configured(f"sqlite:///{tmp_path / 'a.sqlite'}?sweep=trip")
    task.claim("r")
    task.commit("r", DROP_B)
    assert migrate(f"sqlite:///{tmp_path / 'a.sqlite'}", postgres_url) == 8
    copy = StageTask(open_store(with_sweep(postgres_url, "trip")))
    original, copied = task.state(), copy.state()
    assert copied["stages"] == original["stages"] and copied["eliminations"] == original["eliminations"]
    assert copied["settings"] == original["settings"] and copy.store.rows() == task.store.rows()


def test_held_points_wait_and_a_decision_that_raises_is_recorded_until_retry_failed(tmp_path):
    task = configured(f"sqlite:///{tmp_path / 'a.sqlite'}?sweep=raises")
    store = task.store
    assert store.claim_point("a3", "x", lease_s=60) is None  # stage 1 is held until the selection opens it

    def broken(*args) -> StageOutcome:
        raise ZeroDivisionError("a bug in the decision")

    assert select_when_due(store, broken) == (False, False)
    assert "ZeroDivisionError: a bug in the decision" in task.state()["current"]["error"]
    assert select_when_due(store, lambda *args: DROP_B) == (False, False)  # not retried by itself
    assert store.retry_failed() == 0 and task.state()["current"]["error"] is None
    assert select_when_due(store, lambda *args: DROP_B) == (True, False)
    assert store.claim("x", lease_s=60)["id"] == "a3"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--select", "target_df=16"], "error: --select target_df=16: below 32, the largest finetuning size of"),
        (["--select", "target=128"], "error: --select 'target=128': expected target_df=N"),
        (["--select", "target_df=-3"], "error: --select 'target_df=-3': target_df must be a finite number > 0"),
        (["--select", "target_df=128", "--budget", "1.5"], "error: --budget 1.5: expected a share in (0, 1]"),
        (["--select", "target_df=128", "--budget", "0"], "error: --budget 0.0: expected a share in (0, 1]"),
        (["--budget", "0.5"], "error: --budget applies to an adaptive sweep: give --select target_df=N"),
        (["--select", "target_df=128", "--budget", "0.5"], "error: --budget 0.5: the first stage alone plans 60.0%"),
    ],
)
def test_bad_adaptive_options_are_one_line(options, expected, in_repo, tmp_path, capsys):
    spec = adaptive_spec(tmp_path, "bad")
    assert main(["sweep", "run", str(spec), "--dir", str(tmp_path / "s"), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1
    assert not (tmp_path / "s" / "points").exists()  # nothing ran


def test_a_candidate_with_fewer_than_three_sizes_is_one_line(in_repo, tmp_path, capsys):
    spec = adaptive_spec(tmp_path, "short")
    raw = yaml.safe_load(spec.read_text())
    raw["methods"]["lora"]["train_sizes"] = [8, 16]
    spec.write_text(yaml.safe_dump(raw))
    assert main(["sweep", "run", str(spec), "--dir", str(tmp_path / "s"), "--select", f"target_df={TARGET}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: candidate lora/") and "has 2 finetuning size(s) in the spec (8, 16)" in err


def test_an_adaptive_store_refuses_other_settings_and_a_started_sweep_refuses_to_become_adaptive(in_repo, tmp_path):
    spec = adaptive_spec(tmp_path, "settings")
    prepare_sweep(spec, tmp_path / "a", adaptive=Adaptive(TARGET))
    prepare_sweep(spec, tmp_path / "a")  # a rerun without --select goes on with the stored settings
    with pytest.raises(
        ValueError, match=re.escape("is an adaptive sweep with target_df=128, budget=1.0, probability=0.95")
    ):
        prepare_sweep(spec, tmp_path / "a", adaptive=Adaptive(64))
    _, target = prepare_sweep(spec, tmp_path / "b")
    store = target.open()
    store.finish(store.claim("r", lease_s=60)["id"], "r", {"test/loss": 1.0})
    with pytest.raises(ValueError, match="holds an ordinary sweep of this spec with 1 points run"):
        prepare_sweep(spec, tmp_path / "b", adaptive=Adaptive(TARGET))


@pytest.mark.slow
def test_an_adaptive_sweep_of_tiny_models_runs_for_real_and_reports_its_path(in_repo, test_ladder, tmp_path):
    from ftscale.cli.sweep import in_process
    from ftscale.reports.finalize import complete_sweep

    spec = yaml.safe_load((ROOT / TEST_SPEC).read_text()) | {"name": "adaptive-real", "train_sizes": [8, 16, 32, 64]}
    spec["data"]["pool_size"] = 64
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    store = run_sweep(
        path, tmp_path / "s", execute=in_process(), fit=complete_sweep, show_progress=False, adaptive=Adaptive(64)
    )
    rows = store.rows()
    assert store.is_complete() and not store.counts()["failed"]
    assert {r["status"] for r in rows if r["stage"] == 0} == {"done"}
    last = StageTask(store).state()["stages"][-1]["result"]
    assert last["choice"] in {r["candidate"] for r in rows} and last["stopped"]
    report = (tmp_path / "s" / "report.html").read_text()
    assert "Adaptive selection: the path" in report and last["choice"] in report
