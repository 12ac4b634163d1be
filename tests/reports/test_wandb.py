"""W&B: the fit run read back from its offline record file, the mode rules, and a broken W&B never raising."""

import logging
from pathlib import Path

import pytest
import wandb

from ftscale.reports.wandb_run import log_fit_run
from ftscale.reports.wandb_settings import wandb_mode
from tests.wandb_offline import read_offline_run

CREDENTIAL_ENV = ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "NETRC", "WANDB_MODE")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    for name in (*CREDENTIAL_ENV, "WANDB_SERVICE", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_fit_run_holds_tables_figures_and_summary(fitted, tmp_path):
    results, sections, sweep_dir = fitted
    run_dir = log_fit_run(results, sections, sweep_dir, "offline")
    run = read_offline_run(run_dir)
    assert run["run"]["job_type"] == "scaling-law" and run["run"]["group"] == results.sweep
    law = results.law("lora", "model_size").fit
    assert run["summary"]["fit/lora/model_size/alpha"] == pytest.approx(law.params["alpha"])
    assert run["summary"]["claims/2"] == next(c.verdict for c in results.claims if c.id == 2)
    tables = {key: value for key, value in run["tables"].items()}
    assert "tables/claims" in tables and "tables/law/lora/model_size" in tables
    images = [key for key, value in run["summary"].items() if isinstance(value, dict)
              and value.get("_type") == "image-file"]  # fmt: skip
    assert len(images) == len(results.laws) + len(results.critical)
    # One row per claim, its forest plot an image in its row (the run's file copy of a table names an image cell
    # "Image"; W&B keeps the image itself in the table's artifact).
    claims = tables["tables/claims"]
    assert len(claims["data"]) == len(results.claims)
    assert [row[-1] for row in claims["data"]] == ["Image" if c.values else None for c in results.claims]
    # Every law's verdict and noise floor; the choices with what they were chosen on, the held-out ranking labelled.
    summary = run["summary"]
    assert summary["fit/lora/model_size/quality"] == law.quality
    forms = next(f for f in results.forms if (f.method, f.axis) == ("lora", "model_size"))
    assert summary["form/lora/model_size/chosen"] == forms.chosen
    assert summary["form/lora/model_size/cv_score"] == pytest.approx(forms.candidates[0]["cv_score"])
    assert summary["form/lora/model_size/held_out_ranking_diagnostic"] == ", ".join(forms.held_out_ranking)
    sharing = next(s for s in results.sharing if s.method == "lora")
    assert summary["sharing/lora/shared"] == (", ".join(sharing.shared) or "none")
    assert summary["decision/model_size/best"] == next(d.decision.best for d in results.decisions)


def test_disabled_logs_nothing_and_a_broken_wandb_never_raises(fitted, tmp_path, monkeypatch, caplog):
    results, sections, _ = fitted
    assert log_fit_run(results, sections, tmp_path, "disabled") is None
    monkeypatch.setattr(wandb, "init", lambda **_: (_ for _ in ()).throw(RuntimeError("cannot reach W&B")))
    with caplog.at_level(logging.WARNING):
        assert log_fit_run(results, sections, tmp_path, "online") is None
    assert "W&B online logging failed (RuntimeError: cannot reach W&B); logging offline instead" in caplog.text
    assert not (tmp_path / "wandb").exists()


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
