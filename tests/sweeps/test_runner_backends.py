"""The runner's guarantees on both stores (SQLite file, PostgreSQL server): runner processes share a sweep, kill -9
loses nothing, the sweep completes once; and W&B agents' `ftscale sweep point` processes share a PostgreSQL store."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ftscale.sweeps.layout import Target
from ftscale.sweeps.runner import drain, prepare_sweep, run_sweep
from ftscale.sweeps.store.url import parse
from tests.sweeps.test_runner import BLOCK_AT, ROOT, RUNNERS, TEST_SPEC, events, fake_execute, hook, hook_calls

WORKERS = 4


def named_spec(directory: Path, name: str) -> Path:
    """configs/sweeps/test.yaml under another name: every test's sweep is its own in the shared PostgreSQL database."""
    spec = yaml.safe_load((ROOT / TEST_SPEC).read_text()) | {"name": name}
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def sweep(url, tmp_path) -> tuple[Path, str]:
    """A test sweep's spec and its store's URL, on SQLite and on PostgreSQL (conftest's `url`); its directory
    `tmp_path/s` is made here: `prepare_sweep` makes it only through a store inside it."""
    (tmp_path / "s").mkdir()
    return named_spec(tmp_path, parse(url).sweep), url


def runners(sweep_dir: Path) -> set[str]:
    """The pids of the processes that ran a point to its end."""
    return {owner.split(":")[1] for event, _, owner in events(sweep_dir) if event == "end"}


def test_four_runner_processes_run_every_point_once(in_repo, tmp_path, sweep, monkeypatch):
    spec, url = sweep
    monkeypatch.setenv(RUNNERS, str(WORKERS))  # each waits until all four hold a point: they really run at once
    store = run_sweep(spec, tmp_path / "s", workers=WORKERS, store=url, execute=fake_execute, fit=hook,
                      pretrain=False, show_progress=False)  # fmt: skip
    rows = store.rows()
    assert len(rows) == 15 and all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    ends = Counter(point for event, point, _ in events(tmp_path / "s") if event == "end")
    assert ends == Counter({r["id"]: 1 for r in rows})
    assert len(runners(tmp_path / "s")) == WORKERS and hook_calls(tmp_path / "s") == 1


def test_kill_9_then_rerun_loses_no_finished_point_and_reruns_none(in_repo, tmp_path, sweep):
    spec, url = sweep
    _, target = prepare_sweep(spec, tmp_path / "s", store=url)
    store = target.open()
    code = (
        "from pathlib import Path; from tests.sweeps.test_runner import fake_execute; "
        "from ftscale.sweeps.layout import Target; from ftscale.sweeps.runner import drain; "
        f"drain(Target(Path({str(target.sweep_dir)!r}), {url!r}), execute=fake_execute)"
    )
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ | {BLOCK_AT: "4"})
    while sum(e[0] == "start" for e in events(target.sweep_dir)) < 4:
        assert runner.poll() is None, "the runner ended before it started its fourth point"
        time.sleep(0.05)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    before = {r["id"] for r in store.rows() if r["status"] == "done"}
    killed = events(target.sweep_dir)[-1][1]
    assert len(before) == 3 and store.get(killed)["status"] == "running"

    drain(Target(target.sweep_dir, url), execute=fake_execute)  # takes the dead runner's point over at once
    rows = store.rows()
    assert all(r["status"] == "done" for r in rows)
    ends = Counter(point for event, point, _ in events(target.sweep_dir) if event == "end")
    assert ends == Counter({r["id"]: 1 for r in rows})  # no finished point lost, none run twice
    assert store.get(killed)["attempts"] == 2 and all(store.get(p)["attempts"] == 1 for p in before)


def test_the_last_four_points_finishing_together_complete_the_sweep_once(in_repo, tmp_path, sweep, monkeypatch):
    spec, url = sweep
    _, target = prepare_sweep(spec, tmp_path / "s", store=url)
    store = target.open()
    ids = [r["id"] for r in store.rows()]
    first, last = ids[:-WORKERS], ids[-WORKERS:]
    for point in first:
        store.claim_point(point, "me", lease_s=60)
        assert not store.finish(point, "me", {"test/loss": 1.0})
    monkeypatch.setenv(RUNNERS, str(WORKERS))  # the four runs end at the same moment
    run_sweep(spec, target.sweep_dir, workers=WORKERS, store=url, execute=fake_execute, fit=hook,
              pretrain=False, show_progress=False)  # fmt: skip
    ends = [(point, owner) for event, point, owner in events(target.sweep_dir) if event == "end"]
    assert sorted(point for point, _ in ends) == sorted(last)
    assert len(runners(target.sweep_dir)) == WORKERS
    assert hook_calls(target.sweep_dir) == 1 and store.completed_by() in {owner for _, owner in ends}


# A W&B agent's process: `ftscale sweep point` for each id given, training faked by the runner tests' executor.
AGENT = """
import sys
import ftscale.cli.sweep as sweep
from ftscale.cli.main import main
from tests.sweeps.test_runner import fake_execute
sweep.in_process = lambda: fake_execute
spec, store, directory, *ids = sys.argv[1:]
sys.exit(max([main(["sweep", "point", spec, "--point", i, "--store", store, "--dir", directory]) for i in ids]))
"""


def test_agents_on_a_postgres_store_run_each_point_once_and_the_last_one_fits(in_repo, tmp_path, postgres_url):
    spec = named_spec(tmp_path, f"agents-{tmp_path.name}")
    url, sweep_dir = postgres_url, tmp_path / "s"
    sweep_dir.mkdir()  # see `sweep`
    _, target = prepare_sweep(spec, sweep_dir, store=url)
    ids = [r["id"] for r in target.open().rows()]
    # Both agents are handed every point, in opposite orders: each point runs once, whoever gets it first.
    agents = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, str(spec), url, str(sweep_dir), *order],
            cwd=ROOT,
            env=os.environ | {RUNNERS: "2"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for order in (ids, ids[::-1])
    ]
    outputs = [agent.communicate(timeout=600)[0] for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], outputs
    store = target.open()
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in store.rows())
    ends = Counter(point for event, point, _ in events(sweep_dir) if event == "end")
    assert ends == Counter(dict.fromkeys(ids, 1)) and len(runners(sweep_dir)) == 2
    # The fit ran once, in the agent whose point completed the sweep; no agent waited for the other.
    assert hook_calls(sweep_dir) == 1
    assert store.completed_by().split(":")[1] in runners(sweep_dir)
    assert all(f"point {i}: done" in "".join(outputs) for i in ids)
