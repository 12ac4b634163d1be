"""Reading CSV/TSV/JSONL, JSON round trips, and the `ftscale law` CLI including every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftscale.cli.main import main
from ftscale.scaling_laws import MULTIPLICATIVE, FitResult, ScalingLawError, fit, load_fit, read_points

from .conftest import synthetic

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
DATA = synthetic(MULTIPLICATIVE, TRUTH, np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6), 0.01, seed=4)


def law(argv: list[str]) -> int:
    """`ftscale law ARGV`."""
    return main(["law", *argv])


def _write(path, fmt: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(sep.join(cols) + "\n" + "".join(sep.join(str(r[c]) for c in cols) + "\n" for r in rows))


def _rows(x, df, loss) -> list[dict]:
    return [{"model": f"m{i}", "N": a, "D": b, "L": c} for i, (a, b, c) in enumerate(zip(x, df, loss, strict=True))]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_read_points_all_formats(tmp_path, fmt):
    path = tmp_path / f"p.{fmt}"
    _write(path, fmt, _rows(*DATA))
    pts = read_points(path, "N", "D", "L")
    np.testing.assert_array_equal(pts.x, DATA[0])
    np.testing.assert_array_equal(pts.loss, DATA[2])
    assert pts.lines[0] == (1 if fmt == "jsonl" else 2)


def test_fit_result_json_is_lossless(tmp_path):
    r = fit(MULTIPLICATIVE, *DATA, held_out=["x=max"])
    r.save(tmp_path / "f.json")
    back = load_fit(tmp_path / "f.json")
    assert back == r and back.params == r.params and back.to_json() == r.to_json()
    assert json.loads(r.to_json())["params"].keys() == {"A", "alpha", "beta", "E"}


def test_cli_fit_predict_needed_critical(tmp_path, capsys):
    _write(tmp_path / "p.csv", "csv", _rows(*DATA))
    out = tmp_path / "fit.json"
    args = ["fit", str(tmp_path / "p.csv"), "--x", "N", "--df", "D", "--loss", "L", "--held-out", "x=max"]
    assert law([*args, "--out", str(out), "--bootstrap", "20", "--plot", str(tmp_path / "fig.png")]) == 0
    saved = json.loads(out.read_text())
    for key in ("law", "params", "objective", "delta_e", "delta_h", "n_fit", "n_held_out", "intervals"):
        assert key in saved
    assert saved["n_held_out"] == 6 and len(saved["bootstrap_params"]) == 20
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.svg").stat().st_size > 0
    r = FitResult.from_dict(saved)
    capsys.readouterr()
    assert law(["predict", str(out), "--x", "2e9", "--df", "1e4"]) == 0
    assert f"{r.predict(2e9, 1e4):.6g}" in capsys.readouterr().out
    assert law(["needed", str(out), "--x", "2e9", "--target", f"{r.predict(2e9, 1e4):.12g}"]) == 0
    assert "10000" in capsys.readouterr().out
    other = FitResult(**{**saved, "params": {**r.params, "A": 5.0, "beta": 0.05}})
    other.save(tmp_path / "other.json")
    assert law(["critical", str(out), str(tmp_path / "other.json"), "--x", "1e9", "2e9"]) == 0
    lines = [ln for ln in capsys.readouterr().out.strip().splitlines() if not ln.startswith(" ")]
    assert len(lines) == 2 and all("critical Df" in ln for ln in lines)


def test_cli_all_chooses_by_cross_validation(tmp_path, capsys):
    _write(tmp_path / "p.jsonl", "jsonl", _rows(*DATA))
    out = tmp_path / "all.json"
    args = ["fit", str(tmp_path / "p.jsonl"), "--law", "all", "--x", "N", "--df", "D", "--loss", "L"]
    assert law([*args, "--held-out", "df=max", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    scores = [c["score"] for c in saved["cv"] if c["score"] is not None and not c["degenerate"]]
    assert saved["ranked_by"] == "cross-validation" and scores == sorted(scores)
    assert saved["chosen"] == saved["cv"][0]["name"] and saved["winner"] == saved["fits"][0]["law"]
    assert load_fit(out).law == saved["winner"]


def _bad(tmp_path, capsys, argv: list[str], *needles: str) -> None:
    assert law(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize(
    ("value", "what"), [("nan", "NaN"), ("inf", "infinite"), ("0", "not positive"), ("-3", "not positive")]
)
def test_cli_bad_values(tmp_path, capsys, value, what):
    rows = _rows(*DATA)
    rows[3]["L"] = value
    _write(tmp_path / "p.csv", "csv", rows)
    argv = ["fit", str(tmp_path / "p.csv"), "--x", "N", "--df", "D", "--loss", "L"]
    _bad(tmp_path, capsys, argv, "p.csv", "'L'", what, "line 5")


def test_cli_missing_column_lists_available(tmp_path, capsys):
    _write(tmp_path / "p.csv", "csv", _rows(*DATA))
    argv = ["fit", str(tmp_path / "p.csv"), "--x", "params", "--df", "D", "--loss", "L"]
    _bad(tmp_path, capsys, argv, "p.csv", "'params'", "available columns: model, N, D, L")


def test_cli_too_few_points_and_single_x(tmp_path, capsys):
    _write(tmp_path / "few.csv", "csv", _rows(*(a[:3] for a in DATA)))
    _bad(
        tmp_path, capsys, ["fit", str(tmp_path / "few.csv"), "--x", "N", "--df", "D", "--loss", "L"], "need at least 4"
    )
    one = DATA[0] == DATA[0][0]
    _write(tmp_path / "one.csv", "csv", _rows(*(a[one] for a in DATA)))
    argv = ["fit", str(tmp_path / "one.csv"), "--x", "N", "--df", "D", "--loss", "L"]
    _bad(tmp_path, capsys, argv, "single distinct N")


def test_cli_malformed_lines(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("N,D,L\n1e9,1e3,2.0\n1e9,1e4\n")
    _bad(tmp_path, capsys, ["fit", str(tmp_path / "p.csv"), "--x", "N", "--df", "D", "--loss", "L"], "line 3")
    (tmp_path / "p.jsonl").write_text('{"N": 1e9, "D": 1e3, "L": 2}\n{"N": 1e9, "D": \n')
    _bad(tmp_path, capsys, ["fit", str(tmp_path / "p.jsonl"), "--x", "N", "--df", "D", "--loss", "L"], "line 2")
    (tmp_path / "q.csv").write_text("N,D,L\n1e9,1e3,abc\n")
    _bad(tmp_path, capsys, ["fit", str(tmp_path / "q.csv"), "--x", "N", "--df", "D", "--loss", "L"], "'abc'")


def test_cli_usage_errors_are_one_line(tmp_path, capsys):
    _write(tmp_path / "p.csv", "csv", _rows(*DATA))
    argv = ["fit", str(tmp_path / "p.csv"), "--law", "cubic", "--x", "N", "--df", "D", "--loss", "L"]
    _bad(tmp_path, capsys, argv, "unknown law 'cubic'", "multiplicative")
    _bad(tmp_path, capsys, ["predict", str(tmp_path / "nope.json"), "--df", "10"], "nope.json")
    _bad(tmp_path, capsys, ["predict", "f.json", "--df", "nan"], "finite number > 0")
    _bad(tmp_path, capsys, ["fit", str(tmp_path / "nope.csv"), "--x", "N", "--df", "D", "--loss", "L"], "nope.csv")


def test_help_names_the_program_and_forms_lists_the_laws(capsys):
    assert law(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: ftscale law <command>")
    assert law(["forms"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name} " in out for name in ("multiplicative", "additive", "power", "rectified"))


def test_api_errors_are_scaling_law_errors():
    x, df, loss = DATA
    with pytest.raises(ScalingLawError, match="NaN"):
        fit(MULTIPLICATIVE, x, df, np.where(np.arange(len(x)) == 2, np.nan, loss))
    with pytest.raises(ScalingLawError, match="single distinct"):
        fit(MULTIPLICATIVE, np.full_like(x, 1e9), df, loss)
    with pytest.raises(ScalingLawError, match="give an X column"):
        fit(MULTIPLICATIVE, None, df, loss)
    assert issubclass(ScalingLawError, ValueError)


def test_cli_tie_fits_one_exponent(tmp_path):
    _write(tmp_path / "p.csv", "csv", _rows(*DATA))
    out = tmp_path / "tied.json"
    argv = ["fit", str(tmp_path / "p.csv"), "--law", "additive", "--x", "N", "--df", "D", "--loss", "L"]
    assert law([*argv, "--tie", "beta=alpha", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["tied"] == [["alpha", "beta"]] and saved["params"]["alpha"] == saved["params"]["beta"]
