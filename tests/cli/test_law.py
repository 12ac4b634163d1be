"""`ftscale law`: the choice by cross-validation shown beside the held-out diagnostic, verdicts in the output and
the JSON, groups, and the answers (predict on a grid, every crossing, a decision) in words."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ftscale.cli.main import main
from ftscale.reports.finalize import BOOTSTRAP
from ftscale.scaling_laws import ADDITIVE, MULTIPLICATIVE, as_points, fit_points, held_out_mask, load_fit
from ftscale.scaling_laws.external import lin2024
from tests.scaling_laws.conftest import synthetic
from tests.scaling_laws.two_stage_data import seeded_series

ROOT = Path(__file__).resolve().parents[2]
TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
X, DF = np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6)
COLUMNS = ["--x", "N", "--df", "D", "--loss", "L"]


def law(argv: list[str]) -> int:
    """`ftscale law ARGV`."""
    return main(["law", *argv])


def _table(path: Path, x, df, loss, groups=None) -> Path:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["N", "D", "L", "seed"])
        for i, row in enumerate(zip(x, df, loss, strict=True)):
            out.writerow([*row, 0 if groups is None else groups[i]])
    return path


def _fit(tmp_path: Path, name: str, table: Path, *args: str) -> Path:
    out = tmp_path / f"{name}.json"
    assert law(["fit", str(table), *COLUMNS, *args, "--out", str(out)]) == 0
    return out


def test_law_all_prints_the_cv_choice_and_the_held_out_diagnostic_and_saves_both(tmp_path, capsys):
    # The held-out points are set to what the additive law (fitted on the fitted points) predicts there, so a
    # ranking on them puts additive first; cross-validation never sees them and picks another form.
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X, DF, 0.01, seed=3)
    held = held_out_mask(as_points(x, df, loss), ["x=max", "df=max"])
    loss[held] = fit_points(ADDITIVE, as_points(x, df, loss), held_out=held).predict(x[held], df[held])
    table = _table(tmp_path / "p.csv", x, df, loss)
    laws = "multiplicative,additive"
    saved = _fit(tmp_path, "all", table, "--law", laws, "--held-out", "x=max", "--held-out", "df=max")
    out = capsys.readouterr().out
    chosen_part, diagnostic_part = out.split("diagnostic: ranked on the held-out points (not used to choose):")
    assert chosen_part.startswith("chosen by cross-validation on the fitted points")
    data = json.loads(saved.read_text())
    chosen = data["cv"][0]["name"]
    assert chosen != "additive" and f"chosen: {chosen};" in chosen_part
    assert diagnostic_part.split()[1] == "additive" == data["held_out_ranking"]["forms"][0]
    assert data["held_out_ranking"]["label"].startswith("diagnostic") and data["chosen"] == chosen
    assert load_fit(saved).law == chosen
    assert f"law {chosen}:" in diagnostic_part  # the chosen fit is printed in full after both tables


def test_a_wrong_sign_is_degenerate_in_the_output_and_the_json(tmp_path, capsys):
    xx, dd = (v.ravel() for v in np.meshgrid(X, DF, indexing="ij"))
    table = _table(tmp_path / "rising.csv", xx, dd, 0.5 + 0.01 * dd**0.3 * (xx / 1e8) ** -0.2)
    saved = _fit(tmp_path, "rising", table)
    out = capsys.readouterr().out
    assert "verdict: degenerate" in out and "beta = -0.3 < 0: the loss rises with Df (wrong sign)" in out
    data = json.loads(saved.read_text())
    assert data["quality"] == "degenerate" and any("wrong sign" in why for why in data["quality_reasons"])


def test_a_parameter_at_its_bound_is_degenerate_in_the_output_and_the_json(tmp_path, capsys):
    pts = lin2024(ROOT / "benchmarks" / "data" / "lin2024", "flan")["lamini-gpt"]
    table = _table(tmp_path / "lamini.csv", pts.x, pts.df, pts.loss)
    saved = _fit(tmp_path, "lamini", table, "--law", "additive", "--held-out", "x=max", "--held-out", "df=max")
    out = capsys.readouterr().out
    data = json.loads(saved.read_text())
    assert data["quality"] == "degenerate" and "A" in data["at_bound"]
    assert "verdict: degenerate" in out and "A = 2.688e+43 is at the optimiser's bound" in out


def test_groups_give_cell_means_and_a_noise_floor(tmp_path, capsys):
    pts = seeded_series(0, 3, factors=("model",))["model"]
    table = _table(tmp_path / "seeds.csv", pts.x, pts.df, pts.loss, pts.groups)
    saved = _fit(tmp_path, "seeds", table, "--group", "seed", "--bootstrap", "20")
    out = capsys.readouterr().out
    data = json.loads(saved.read_text())
    assert data["n_groups"] == 3 and data["n_fit"] == len(pts) // 3 and data["noise_floor"] > 0
    assert (
        f"noise floor (between-group standard error of a cell mean, mean over cells) = {data['noise_floor']:.6g}" in out
    )


@pytest.fixture()
def two_methods(tmp_path) -> tuple[Path, Path]:
    """Bootstrapped fits of two methods: fmt steeper in Df (worse on little data, better on much)."""
    fits = []
    for name, law, seed in (("fmt", {**TRUTH, "A": 600.0, "beta": 0.4}, 1), ("lora", TRUTH, 2)):
        table = _table(tmp_path / f"{name}.csv", *synthetic(MULTIPLICATIVE, law, X, DF, 0.005, seed=seed))
        fits.append(_fit(tmp_path, name, table, "--bootstrap", "40"))
    return fits[0], fits[1]


def test_predict_on_a_grid_writes_csv_and_json(tmp_path, capsys, two_methods):
    fmt, _ = two_methods
    capsys.readouterr()
    grid = ["--x", "1e9", "1e11", "--df", "1e3", "1e4", "1e5"]
    assert law(["predict", str(fmt), *grid, "--out", str(tmp_path / "grid.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all("95% [" in ln for ln in lines)
    assert sum("extrapolation: X = 1e+11 is above" in ln for ln in lines) == 3
    rows = list(csv.DictReader((tmp_path / "grid.csv").open()))
    r = load_fit(fmt)
    assert [(float(row["x"]), float(row["df"])) for row in rows] == [
        (x, d) for x in (1e9, 1e11) for d in (1e3, 1e4, 1e5)
    ]
    for row in rows:
        assert float(row["low"]) < float(row["loss"]) < float(row["high"])
        assert float(row["loss"]) == pytest.approx(r.predict(float(row["x"]), float(row["df"])), rel=1e-9)
    assert law(["predict", str(fmt), *grid, "--out", str(tmp_path / "grid.json")]) == 0
    data = json.loads((tmp_path / "grid.json").read_text())
    assert data["quality"] == "ok" and len(data["rows"]) == 6
    assert law(["predict", str(fmt), *grid, "--out", str(tmp_path / "grid.txt")]) == 2
    assert "write a .csv or a .json table" in capsys.readouterr().err


def test_critical_lists_every_crossing_with_sides_intervals_and_the_extrapolation_mark(capsys, two_methods):
    fmt, lora = two_methods
    capsys.readouterr()
    assert law(["critical", str(fmt), str(lora), "--x", "1e9", "--names", "FMT", "LoRA"]) == 0
    out = capsys.readouterr().out.splitlines()
    crossing = [ln for ln in out if ln.startswith("X=1e+09: critical Df")]
    assert len(crossing) == 1 and "LoRA better below, FMT better above" in crossing[0]
    assert "95% [" in crossing[0] and "of resamples" in crossing[0]
    df_c = float(crossing[0].split("critical Df = ")[1].split()[0])
    inside = load_fit(fmt).ranges["df"][0] <= df_c <= load_fit(fmt).ranges["df"][1]
    assert any(ln.strip().startswith("extrapolation:") for ln in out) == (not inside)
    assert law(["critical", str(fmt), str(lora), "--x", "1e9", "--df-range", str(df_c * 2), "1e12"]) == 0
    assert "no crossing for Df in" in capsys.readouterr().out


def test_decide_and_a_degenerate_fit_it_rests_on(tmp_path, capsys, two_methods):
    fmt, lora = two_methods
    capsys.readouterr()
    assert law(["decide", str(fmt), str(lora), "--x", "1e9", "--df", "2000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("at X = 1e+09, Df = 2000: lora is predicted best") and "paired bootstrap resamples" in out
    assert "next crossing: fmt overtakes lora" in out
    bad = json.loads(fmt.read_text())
    bad |= {"quality": "degenerate", "quality_reasons": ["beta = -0.4 < 0: the loss rises with Df (wrong sign)"]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert law(["decide", str(tmp_path / "bad.json"), str(lora), "--x", "1e9", "--df", "2000"]) == 0
    assert capsys.readouterr().out.startswith("not decidable: the bad fit is degenerate: beta = -0.4 < 0")
    assert law(["critical", str(tmp_path / "bad.json"), str(lora), "--x", "1e9"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warning: the bad fit is degenerate") and "[degenerate fit]" in out
    assert law(["decide", str(fmt), str(lora), "--x", "1e9", "--df", "2000", "--names", "a", "a"]) == 2
    assert "different names" in capsys.readouterr().err


def test_fit_sweep_hands_its_options_to_the_sweep_fit(tmp_path, monkeypatch, capsys):
    calls = []

    def finalize(sweep_dir, **options):
        calls.append((sweep_dir, options))
        return sweep_dir / "report.html"

    monkeypatch.setattr("ftscale.cli.law_sweep.finalize_sweep", finalize)
    argv = ["fit-sweep", str(tmp_path), "--store", "sqlite:///r.sqlite", "--bootstrap", "5", "--wandb", "off"]
    assert law([*argv, "--from-wandb", "team/project", "--wandb-report"]) == 0
    options = {"store": "sqlite:///r.sqlite", "wandb": "off", "bootstrap": 5, "from_wandb": "team/project"}
    assert calls == [(tmp_path, options | {"wandb_report": True})]
    assert capsys.readouterr().out == f"laws: {tmp_path / 'laws.json'}\nreport: {tmp_path / 'report.html'}\n"
    assert law(["fit-sweep", str(tmp_path)]) == 0  # the defaults: the store beside the sweep, the sweep fit's resamples
    defaults = {"store": None, "wandb": None, "bootstrap": BOOTSTRAP, "from_wandb": None, "wandb_report": False}
    assert calls[1] == (tmp_path, defaults)
