"""Reading points back from W&B: store -> offline point runs -> a fake public API -> the same laws as the store."""

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import wandb
import yaml

from ftscale import scaling_laws as sl
from ftscale.sweeps import laws
from ftscale.sweeps.cli import main
from ftscale.sweeps.finalize import finalize_sweep
from ftscale.sweeps.runner import prepare_sweep
from ftscale.sweeps.wandb_runs import merge_points, parse_path, point_from_run
from tests.sweeps.wandb_offline import read_offline_run

TEST_SPEC = "configs/sweeps/test.yaml"


class FakeRun:
    """The attributes of `wandb.apis.public.Run` that ftscale reads (wandb 0.31), from an offline run."""

    def __init__(self, offline: dict[str, Any], state: str = "finished") -> None:
        self.id = offline["run"]["id"]
        self.name = offline["run"]["name"]
        self.group = offline["run"]["group"]
        self.job_type = offline["run"]["job_type"]
        self.state = state
        self.config = offline["config"]
        # What the server's summary holds besides the logged metrics.
        self.summary_metrics = {**offline["summary"], "_runtime": 1.5, "_timestamp": 1.7e9, "_wandb": {"runtime": 1}}


class FakeApi:
    """`wandb.Api()` over fixed runs; `runs` applies the group / jobType / state filters as the server would."""

    runs_by_path: ClassVar[dict[str, list[FakeRun]]] = {}
    queries: ClassVar[list[tuple[str, dict]]] = []

    def runs(self, path: str, filters: dict[str, Any] | None = None, **_: Any) -> list[FakeRun]:
        self.queries.append((path, filters))
        fields = {"group": "group", "jobType": "job_type", "state": "state"}
        return [
            run
            for run in self.runs_by_path.get(path, [])
            if all(getattr(run, fields[key]) == value for key, value in (filters or {}).items())
        ]


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SERVICE", "WANDB_PROJECT", "NETRC", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no netrc credentials: offline


def synthetic_loss(factors: dict[str, Any]) -> float:
    """A multiplicative law in the point's factors, so that the fits have something to find."""
    n, df = factors["non_embedding_params"], factors["train_size"]
    pet = factors["pet_size"] or 8
    return 1.5 + 40.0 * n**-0.3 * df**-0.25 * (1 + 1 / pet)


def fittable_spec(tmp_path: Path) -> Path:
    """The test spec on its model-size axis only, with a fourth finetuning size: enough points for every law form."""
    spec = yaml.safe_load(Path(TEST_SPEC).read_text()) | {"train_sizes": [8, 16, 32, 64]}
    spec["axes"] = {"model_size": spec["axes"]["model_size"]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def finished_store(spec: Path, sweep_dir: Path) -> list[dict]:
    _, _, store = prepare_sweep(spec, sweep_dir)
    while (row := store.claim("me", lease_s=60)) is not None:
        store.finish(row["id"], "me", {"test/loss": synthetic_loss(row["factors"]), "steps": 4})
    return store.rows()


def without_figures(laws: dict) -> dict:
    return {key: laws[key] for key in ("fits", "form_comparison", "critical", "claims", "skipped")}


def test_store_to_wandb_runs_to_fit_gives_the_laws_of_the_store(in_repo, offline_wandb, tmp_path, monkeypatch, capsys):
    # The round trip is about the points: one law form (of three) keeps the two fits cheap.
    monkeypatch.setattr(laws, "FORMS", (sl.MULTIPLICATIVE,))
    spec, stored = fittable_spec(tmp_path), tmp_path / "stored"
    rows = finished_store(spec, stored)
    finalize_sweep(stored, "offline", bootstrap=0)  # logs every point as a finetune run, offline
    from_store = json.loads((stored / "laws.json").read_text())
    fitted = {(f["method"], f["axis"]) for f in from_store["fits"]}
    assert fitted == {("fmt", "model_size"), ("lora", "model_size")} and from_store["critical"]

    runs = [read_offline_run(path) for path in (stored / "wandb").glob("offline-run-*")]
    point_runs = [FakeRun(run) for run in runs if run["run"]["job_type"] == "finetune"]
    assert sorted(run.name for run in point_runs) == sorted(row["id"] for row in rows)
    crashed = FakeRun(next(r for r in runs if r["run"]["job_type"] == "finetune"), state="crashed")
    other_sweep = FakeRun(runs[0]) if runs[0]["run"]["job_type"] == "finetune" else FakeRun(runs[1])
    other_sweep.group = "another-sweep"
    FakeApi.runs_by_path = {"me/ftscale": [*point_runs, crashed, other_sweep]}
    FakeApi.queries = []
    monkeypatch.setattr(wandb, "Api", FakeApi)

    # A second directory of the same sweep, none of whose points ran here: every point comes from W&B.
    elsewhere = tmp_path / "elsewhere"
    prepare_sweep(spec, elsewhere)
    argv = ["law", "fit", "--sweep", str(elsewhere), "--from-wandb", "me/ftscale", "--bootstrap", "0"]
    assert main([*argv, "--wandb-report"]) == 0
    assert (
        "W&B report skipped: it needs an online W&B login (`wandb login` or WANDB_API_KEY); W&B is offline here"
        in capsys.readouterr().out.splitlines()
    )
    assert FakeApi.queries == [("me/ftscale", {"group": "test", "jobType": "finetune", "state": "finished"})]
    from_wandb = json.loads((elsewhere / "laws.json").read_text())
    assert without_figures(from_wandb) == without_figures(from_store)
    by_id = sorted(from_store["points"], key=lambda p: p["id"])
    assert sorted(from_wandb["points"], key=lambda p: p["id"]) == by_id
    # W&B's own points are not logged back: the only new run is the fit's.
    jobs = [read_offline_run(path)["run"]["job_type"] for path in (elsewhere / "wandb").glob("offline-run-*")]
    assert jobs == ["scaling-law"]


def test_a_point_run_read_back_drops_wandb_keys_and_the_sweep_parameter():
    offline = {
        "run": {"id": "r1", "name": "ab12", "group": "demo", "job_type": "finetune"},
        "config": {"id": "ab12", "method": "lora", "axes": ["pet_size"], "pet_size": 4, "point": "ab12", "_wandb": {}},
        "summary": {"test/loss": 2.5, "val/loss": "NaN"},
    }
    point = point_from_run(FakeRun(offline))
    assert point == {"id": "ab12", "method": "lora", "axes": ["pet_size"], "pet_size": 4, "metrics": {"test/loss": 2.5}}
    assert point_from_run(FakeRun({**offline, "config": {"lr": 0.1}})) is None


def test_merge_keeps_the_store_and_adds_each_other_point_once():
    stored = [{"id": "a", "metrics": {"test/loss": 1.0}}]
    remote = [{"id": "a", "metrics": {"test/loss": 9.0}}, {"id": "b"}, {"id": "b"}]
    assert merge_points(stored, remote) == [{"id": "a", "metrics": {"test/loss": 1.0}}, {"id": "b"}]


@pytest.mark.parametrize("path", ["ftscale", "me/", "/ftscale", "me/ftscale/runs"])
def test_a_bad_wandb_path_is_refused(path):
    with pytest.raises(ValueError, match="--from-wandb: expected ENTITY/PROJECT"):
        parse_path(path)
