"""The end of a sweep, for real: run the test sweep, fit it, and find laws.json, report.html and W&B runs."""

import functools
import json
from collections import Counter

import pytest

from ftscale.sweeps.finalize import finalize_sweep
from ftscale.sweeps.runner import run_sweep
from ftscale.sweeps.spec import load_spec
from ftscale.sweeps.wandb_points import log_finished_point
from tests.sweeps.wandb_offline import read_offline_run

TEST_SPEC = "configs/sweeps/test.yaml"


@pytest.mark.slow
def test_a_finished_sweep_is_fitted_reported_and_logged_offline(in_repo, test_ladder, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_SERVICE", raising=False)  # a wandb service of an earlier test is not ours
    monkeypatch.setenv("HOME", str(tmp_path))  # no netrc credentials: offline mode
    live = functools.partial(log_finished_point, wandb=None)  # what `ftscale sweep run` passes
    run_sweep(TEST_SPEC, tmp_path, show_progress=False, on_done=live)
    points = len(load_spec(TEST_SPEC).points())
    assert jobs(tmp_path) == {"finetune": points}  # each point logged as it finished, before any fit
    report = finalize_sweep(tmp_path)

    laws = json.loads((tmp_path / "laws.json").read_text())
    assert len(laws["points"]) == len(load_spec(TEST_SPEC).points())
    fitted = {(f["method"], f["axis"]) for f in laws["fits"]}
    skipped = {(s["method"], a) for s in laws["skipped"] for a in s["axes"]}
    assert fitted | skipped == {("fmt", "model_size"), ("lora", "model_size"), ("lora", "pet_size")}
    assert all(s["reason"] for s in laws["skipped"])
    assert "<html" in report.read_text()[:200].lower()

    runs = {p.name: read_offline_run(p) for p in (tmp_path / "wandb").glob("offline-run-*")}
    assert jobs(tmp_path) == {"finetune": points, "scaling-law": 1}  # the points were not logged again
    fit_run = next(r for r in runs.values() if r["run"]["job_type"] == "scaling-law")
    for f in laws["fits"]:
        assert fit_run["summary"][f"fit/{f['method']}/{f['axis']}/multiplicative/delta_h"] == pytest.approx(
            f["delta_h"]
        )

    finalize_sweep(tmp_path, bootstrap=0)  # a second fit logs a second fit run, and no point again
    assert jobs(tmp_path) == {"finetune": points, "scaling-law": 2}


def jobs(sweep_dir) -> Counter:
    return Counter(read_offline_run(p)["run"]["job_type"] for p in (sweep_dir / "wandb").glob("offline-run-*"))
