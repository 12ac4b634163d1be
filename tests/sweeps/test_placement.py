"""GPU placement: points run concurrently on disjoint GPU sets, each once; bad device lists are one clear error."""

import functools
import json
import os
import threading
import time
from itertools import combinations
from pathlib import Path

import pytest

from ftscale.cli.main import main
from ftscale.sweeps.executors import Job
from ftscale.sweeps.placement import OnGpus, gpu_sets
from ftscale.sweeps.runner import run_sweep
from ftscale.sweeps.spec import load_spec

TEST_SPEC = "configs/sweeps/test.yaml"
LOCK = threading.Lock()


def recording_launch(
    job: Job, env: dict[str, str], extra: tuple[str, ...], started: dict[str, threading.Event]
) -> None:
    """Stands in for the point's subprocess: records its devices and the time it ran, then its result. It runs
    until every GPU set has started a point (`started`, one event per set): the runners' points do overlap."""
    start = time.monotonic()
    devices = env["CUDA_VISIBLE_DEVICES"]
    started[devices].set()
    for event in started.values():
        event.wait()
    record = {"point": job.point_id, "devices": devices, "extra": list(extra), "start": start,
              "end": time.monotonic()}  # fmt: skip
    with LOCK, open(job.target.sweep_dir / "launches.jsonl", "a") as out:
        out.write(json.dumps(record) + "\n")
    job.target.open().finish(job.point_id, job.owner, {"test/loss": 1.0})


def test_concurrent_points_get_disjoint_gpu_sets_and_each_runs_once(in_repo, tmp_path):
    sets = gpu_sets([0, 1, 2, 3], 2, available=4)
    assert sets == [(0, 1), (2, 3)]
    started = {",".join(map(str, devices)): threading.Event() for devices in sets}
    launch = functools.partial(recording_launch, started=started)
    store = run_sweep(TEST_SPEC, tmp_path, pretrain=False, show_progress=False,
                      placed=[OnGpus(devices, launch=launch) for devices in sets])  # fmt: skip
    launches = [json.loads(line) for line in (tmp_path / "launches.jsonl").read_text().splitlines()]
    ids = [p.id for p in load_spec(TEST_SPEC).points()]
    assert sorted(r["point"] for r in launches) == sorted(ids)  # every point once
    assert store.counts()["done"] == len(ids)
    assert {r["devices"] for r in launches} == {"0,1", "2,3"}  # both sets were used
    overlapping = [(a, b) for a, b in combinations(launches, 2) if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping  # points did run at the same time
    assert all(a["devices"] != b["devices"] for a, b in overlapping)  # never on the same GPUs
    two = next(r for r in launches)["extra"]
    assert two[two.index("--trainer.devices") + 1] == "2" and "--trainer.strategy" in two  # FSDP on two GPUs


def test_one_gpu_per_point_trains_without_fsdp():
    recorded = []
    OnGpus((3,), launch=lambda job, env, extra: recorded.append((env, extra)))(Job("p", [], "me", Path("log"), None))
    ((env, extra),) = recorded
    assert env == {"CUDA_VISIBLE_DEVICES": "3"} and "--trainer.strategy" not in extra


@pytest.mark.parametrize(
    ("gpus", "per_point", "available", "message"),
    [
        ([0, 5], 1, 4, "--gpus names GPU 5, which is not there (this machine's GPUs: 0..3)"),
        ([0], 1, 0, "--gpus names GPU 0, which is not there (this machine's GPUs: none)"),
        ([0, 1], 3, 4, "--gpus-per-point=3: expected 1 to 2"),
        ([1, 1], 1, 4, "--gpus lists a GPU twice"),
    ],
)
def test_bad_gpu_lists_are_refused(gpus, per_point, available, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        gpu_sets(gpus, per_point, available)


def test_the_cli_refuses_a_gpu_that_is_not_there_before_running(in_repo, tmp_path, capsys):
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    assert main(["sweep", "run", TEST_SPEC, "--dir", str(tmp_path), "--gpus", "0,1"]) == 2
    assert capsys.readouterr().err.startswith("error: --gpus names GPU 0, which is not there")
    assert main(["sweep", "run", TEST_SPEC, "--dir", str(tmp_path), "--gpus", "a,b"]) == 2
    assert not (tmp_path / "points").exists()  # nothing ran
