"""W&B logging: offline runs read back from their record files, the mode rules, and a broken W&B never raising."""

import logging
import zlib
from pathlib import Path

import pytest
import wandb

from ftscale.sweeps import wandb_log
from ftscale.sweeps.wandb_log import log_fit, log_point, wandb_mode
from tests.sweeps.test_report import make_laws
from tests.sweeps.wandb_offline import read_offline_run, records

CREDENTIAL_ENV = ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "NETRC", "WANDB_MODE")


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch, tmp_path):
    """No credentials, no earlier warning or online failure, and wandb's service variable not left behind."""
    for name in (*CREDENTIAL_ENV, "WANDB_SERVICE", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(wandb_log, "_warned", False)
    monkeypatch.setattr(wandb_log, "_online_failed", False)


def _row(table: dict, **match) -> dict:
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    (found,) = [row for row in rows if all(row[key] == value for key, value in match.items())]
    return found


def test_fit_run_holds_parameters_errors_tables_and_figures(tmp_path):
    laws = make_laws(tmp_path)
    run_dir = log_fit(tmp_path, laws, "offline")
    assert run_dir.parent == tmp_path / "wandb" and run_dir.name.startswith("offline-run-")
    run = read_offline_run(run_dir)
    assert run["run"]["job_type"] == "scaling-law" and run["run"]["group"] == "demo"
    assert run["config"]["points"] == 2

    summary = run["summary"]
    assert summary["fit/lora/model_size/multiplicative/delta_h"] == 0.0347
    assert summary["fit/lora/model_size/multiplicative/alpha"] == 0.2173
    assert summary["fit/lora/model_size/additive/B"] == 4.4
    assert summary["form/lora/model_size/winner"] == "additive"
    assert [summary[f"claims/{i}"] for i in (1, 2, 5)] == ["holds", "does not hold", "not testable"]

    tables = run["tables"]
    law = _row(tables["tables/laws"], law="multiplicative")
    assert (law["alpha"], law["alpha_low"], law["alpha_high"]) == (0.2173, 0.1529, 0.2841)
    assert (law["delta_e"], law["delta_h"], law["n_held_out"], law["B"]) == (0.0113, 0.0347, 5, None)
    assert _row(tables["tables/laws"], law="additive")["alpha_low"] is None  # no intervals for this fit
    assert _row(tables["tables/form_comparison"], winner=True)["law"] == "additive"
    assert _row(tables["tables/critical_data_sizes"], x=55536)["df_c"] is None
    assert _row(tables["tables/critical_data_sizes"], x=25248)["df_c"] == 1234.7
    assert _row(tables["tables/claims"], id=2)["verdict"] == "does not hold"

    image = summary["figures/lora/model_size/multiplicative"]
    assert image["_type"] == "image-file" and (image["width"], image["height"]) == (200, 150)
    assert (run_dir / "files" / image["path"]).stat().st_size > 1000
    assert "figures/lora/model_size/additive" not in summary  # its figure file was never drawn


def test_point_run_holds_factors_as_config_and_metrics_as_summary(tmp_path):
    point = make_laws(tmp_path)["points"][0] | {"status": "done", "lease_owner": "host:1"}
    run = read_offline_run(log_point(tmp_path, "demo", point, "offline"))
    assert run["run"] | {"id": None} == {"id": None, "name": "ab12", "group": "demo", "job_type": "finetune"}
    assert {key: run["config"][key] for key in ("model_size", "train_size", "seed", "axes")} == {
        "model_size": "s",
        "train_size": 100,
        "seed": 0,
        "axes": ["model_size"],
    }
    assert not {"metrics", "status", "lease_owner"} & set(run["config"])
    assert run["summary"]["test/loss"] == 3.1 and run["summary"]["trainable_params"] == 1234


def test_reader_joins_records_spanning_blocks_and_rejects_corruption(tmp_path):
    # A 100 KB hyper-parameter makes the run record span four 32 KiB blocks (FIRST, MIDDLE..., LAST chunks).
    point = {"id": "big", "notes": "x" * 100_000, "metrics": {"test/loss": 2.5}}
    run_dir = log_point(tmp_path, "demo", point, "offline")
    run = read_offline_run(run_dir)
    assert run["config"]["notes"] == "x" * 100_000 and run["summary"]["test/loss"] == 2.5

    (path,) = run_dir.glob("run-*.wandb")
    data = bytearray(path.read_bytes())
    data[40_000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad checksum"):
        list(records(path))
    assert zlib.crc32(b"") == 0  # the reader's checksum is plain crc32 (IEEE), as wandb writes it


def test_disabled_logs_nothing(tmp_path):
    laws = make_laws(tmp_path)
    assert log_fit(tmp_path, laws, "disabled") is None
    assert log_point(tmp_path, "demo", laws["points"][0], "disabled") is None
    assert not (tmp_path / "wandb").exists()


def test_broken_wandb_warns_once_and_never_raises(tmp_path, monkeypatch, caplog):
    def broken(**_):
        raise RuntimeError("cannot reach W&B\nsecond line")

    monkeypatch.setattr(wandb, "init", broken)
    laws = make_laws(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ftscale.sweeps.wandb_log"):
        assert log_fit(tmp_path, laws, "offline") is None
        assert log_point(tmp_path, "demo", laws["points"][0], "offline") is None
    (warning,) = caplog.records
    assert warning.getMessage() == "W&B offline logging failed (RuntimeError: cannot reach W&B); going on without it"


def test_unreachable_online_falls_back_to_offline_and_stops_trying(tmp_path, monkeypatch, caplog):
    real_init, modes = wandb.init, []

    def unreachable_online(**kwargs):
        modes.append(kwargs["mode"])
        if kwargs["mode"] == "online":
            raise wandb.errors.CommError("Timed out while retrying")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", unreachable_online)
    point = make_laws(tmp_path)["points"][0]
    with caplog.at_level(logging.WARNING, logger="ftscale.sweeps.wandb_log"):
        first = log_point(tmp_path, "demo", point, "online")
        second = log_point(tmp_path, "demo", point, "online")
    assert modes == ["online", "offline", "offline"]
    assert read_offline_run(first)["summary"]["test/loss"] == read_offline_run(second)["summary"]["test/loss"] == 3.1
    (warning,) = caplog.records
    assert "logging offline instead" in warning.getMessage()


def _netrc(tmp_path: Path, host: str) -> None:
    path = tmp_path / "home" / ".netrc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"machine {host}\n  login user\n  password {'k' * 40}\n")


@pytest.mark.parametrize(
    ("requested", "env", "netrc_host", "expected"),
    [
        ("off", {"WANDB_API_KEY": "k" * 40}, None, "disabled"),
        (None, {}, None, "offline"),
        ("online", {}, None, "offline"),
        (None, {"WANDB_API_KEY": "k" * 40}, None, "online"),
        ("offline", {"WANDB_API_KEY": "k" * 40}, None, "offline"),
        (None, {}, "api.wandb.ai", "online"),
        ("online", {}, "api.forge.coreweave.com", "online"),
        (None, {}, "example.org", "offline"),
        (None, {"WANDB_BASE_URL": "https://wandb.example.org"}, "api.wandb.ai", "offline"),
        (None, {"WANDB_BASE_URL": "https://wandb.example.org"}, "wandb.example.org", "online"),
        (None, {"WANDB_MODE": "disabled", "WANDB_API_KEY": "k" * 40}, None, "disabled"),
        (None, {"WANDB_MODE": "offline"}, "api.wandb.ai", "offline"),
        ("online", {"WANDB_MODE": "offline"}, "api.wandb.ai", "online"),
    ],
)
def test_wandb_mode(requested, env, netrc_host, expected, monkeypatch, tmp_path):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if netrc_host:
        _netrc(tmp_path, netrc_host)
    assert wandb_mode(requested) == expected


def test_wandb_mode_reads_netrc_named_by_env_and_refuses_unknown_modes(monkeypatch, tmp_path):
    _netrc(tmp_path / "elsewhere", "api.wandb.ai")
    monkeypatch.setenv("NETRC", str(tmp_path / "elsewhere" / "home" / ".netrc"))
    assert wandb_mode(None) == "online"
    with pytest.raises(ValueError, match="--wandb must be one of online, offline, off; got 'sometimes'"):
        wandb_mode("sometimes")
