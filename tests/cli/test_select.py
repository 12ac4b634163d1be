"""`ftscale select`: a ranked table and a verdict from a table of partial curves; rows beyond the budget unread;
one clear line for bad input."""

from __future__ import annotations

import csv
import json

import pytest

from ftscale.cli.main import main

DF = [200 * 2**i for i in range(8)]  # 200 ... 25,600
TARGET = 1_638_400
# (model, method) -> (a, slope): A is lower where measured, B falls faster and is lower at the target.
LAWS = {("A", "lora"): (3.0, -0.05), ("B", "lora"): (8.0, -0.13), ("C", "full"): (9.0, -0.05)}


def write_table(path, extra: list[tuple[str, str, int, str]] = (), *, header=("model", "method", "df", "loss")) -> str:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, "params", "zero_shot"])
        for (model, method), (a, slope) in LAWS.items():
            for df in DF:
                writer.writerow([model, method, df, repr(a * df**slope), 1e8, 5.0])
        for model, method, df, loss in extra:
            writer.writerow([model, method, df, loss, 1e8, 5.0])
    return str(path)


def run(table: str, *options: str) -> list[str]:
    return [
        "select",
        table,
        "--target-df",
        str(TARGET),
        "--candidate",
        "model",
        "--df",
        "df",
        "--loss",
        "loss",
        *options,
    ]


def test_prints_the_ranking_and_writes_it(tmp_path, capsys):
    table = write_table(tmp_path / "curves.csv")
    out_json, out_csv = tmp_path / "choice.json", tmp_path / "choice.csv"
    assert main(run(table, "--size", "params", "--loss0", "zero_shot", "--out", str(out_json))) == 0
    printed = capsys.readouterr().out
    assert "choose B (P = 1.00)" in printed and "predictor: tail" in printed
    summary = json.loads(out_json.read_text())
    assert summary["verdict"] == "choose B (P = 1.00)" and summary["target_df"] == TARGET
    assert [c["candidate"] for c in summary["candidates"]] == ["B", "A", "C"]
    assert main(run(table, "--out", str(out_csv))) == 0
    rows = list(csv.DictReader(out_csv.read_text().splitlines()))
    assert [r["candidate"] for r in rows] == ["B", "A", "C"] and float(rows[0]["p_best"]) == 1.0
    assert float(rows[0]["low"]) <= float(rows[0]["predicted_loss"]) <= float(rows[0]["high"])


def test_a_method_column_makes_model_and_method_the_candidate(tmp_path, capsys):
    table = write_table(tmp_path / "curves.csv")
    assert main(run(table, "--method", "method", "--family", "model")) == 0
    assert "choose B / lora (P = 1.00)" in capsys.readouterr().out


def test_rows_beyond_the_budget_are_never_read(tmp_path, capsys):
    beyond = [51_200, 102_400, 204_800, 409_600]
    clean = [(m, meth, df, repr(a * df**s)) for (m, meth), (a, s) in LAWS.items() for df in beyond]
    garbage = ["nan", "garbage", "", "-1"]
    dirty = [(m, meth, df, garbage[i % 4]) for i, (m, meth, df, _) in enumerate(clean)]
    outputs = []
    for name, extra in (("clean", clean), ("dirty", dirty)):
        out = tmp_path / f"{name}.json"
        assert main(run(write_table(tmp_path / f"{name}.csv", extra), "--budget", "0.015625", "--out", str(out))) == 0
        outputs.append((capsys.readouterr().out.replace(str(out), "OUT"), out.read_text()))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("options", "extra", "message"),
    [
        (["--target-df", "10000"], [], "error: the target Df 10000 is below the largest Df measured (25600"),
        ([], [("D", "lora", 200, "3.0"), ("D", "lora", 400, "2.9")], "'D' has 2 distinct Df value(s)"),
        (["--budget", "0"], [], "error: the budget must be in (0, 1]"),
        (["--budget", "1.5"], [], "error: the budget must be in (0, 1]"),
        (["--budget", "0.0002"], [], "has 1 distinct Df value(s) within the budget (Df <= 327.68)"),
        (["--out", "choice.txt"], [], "error: --out choice.txt: the file name must end in .csv or .json"),
        ([], [("A", "lora", 0, "4.0")], "column 'df': Df is 0; it must be > 0 (give the loss before finetuning"),
        ([], [("A", "lora", 800, "x")], "line 26, column 'loss': 'x' is not a number"),
        (["--loss0", "zero_shot", "--size", "nope"], [], "no column 'nope' (--size); available columns: model,"),
    ],
)
def test_bad_input_is_one_error_line(options, extra, message, tmp_path, capsys):
    table = write_table(tmp_path / "curves.csv", extra)
    assert main(run(table, *options)) == 2  # an option given twice: the last wins (--target-df)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_table_without_the_loss_column_is_refused(tmp_path, capsys):
    table = write_table(tmp_path / "curves.csv", header=("model", "method", "df", "test_loss"))
    assert main(run(table)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line.startswith("error: ")
        and "no column 'loss' (--loss); available columns: model, method, df, test_loss" in line
    )


def test_several_zero_shot_losses_for_one_candidate_are_refused(tmp_path, capsys):
    table = tmp_path / "curves.csv"
    rows = [("A", df, 3.0 * df**-0.1, 5.0 if df < 800 else 6.0) for df in DF]
    table.write_text("model,df,loss,zero_shot\n" + "".join(f"{m},{d},{v!r},{z}\n" for m, d, v, z in rows))
    assert main(run(str(table), "--loss0", "zero_shot")) == 2
    assert "candidate 'A' has several loss0 values [5.0, 6.0]" in capsys.readouterr().err


def test_ftscale_lists_select(capsys):
    assert main(["--help"]) == 0
    assert "\n  select " in capsys.readouterr().out
