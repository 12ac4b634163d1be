"""The catalogue of bad files across commands: every file the CLI reads can be corrupt, truncated, empty or the
wrong kind, and each case ends in one `error:` line naming the file, never a traceback."""

from pathlib import Path

import pytest

from ftscale.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # a binary file of another kind


def corrupt(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


CASES = {
    # command line with {file}: (file name, content)
    "spec empty": (["sweep", "plan", "{file}"], "spec.yaml", ""),
    "spec truncated": (["sweep", "plan", "{file}"], "spec.yaml", "name: x\nmethods: {fmt: {config: [unclosed"),
    "spec a list": (["sweep", "plan", "{file}"], "spec.yaml", "- a\n- b\n"),
    "spec binary": (["sweep", "plan", "{file}"], "spec.yaml", PNG),
    "pretrain config truncated": (["pretrain", "--config", "{file}"], "ladder.yaml", "sizes: [xs,\n"),
    "pretrain config wrong field": (["pretrain", "--config", "{file}"], "ladder.yaml", "sizez: [xs]\n"),
    "checkpoint truncated": (["export", "{file}", "{tmp}/out"], "best.ckpt", b"PK\x03\x04" + b"\0" * 40),
    "checkpoint empty": (["export", "{file}", "{tmp}/out"], "best.ckpt", b""),
    "checkpoint another kind": (["export", "{file}", "{tmp}/out"], "best.ckpt", PNG),
    "fit json truncated": (["law", "predict", "{file}", "--df", "100"], "fit.json", '{"law": "multiplicative", '),
    "fit json another kind": (["law", "predict", "{file}", "--df", "100"], "fit.json", "[1, 2, 3]"),
    "points table empty": (
        ["law", "fit", "{file}", "--law", "power", "--df", "df", "--loss", "loss"],
        "points.csv",
        "",
    ),
    "store corrupt": (["sweep", "status", "{tmp}", "--store", "{file}"], "results.sqlite", b"SQLite format 3\0garbage"),
    "store another kind": (["sweep", "status", "{tmp}", "--store", "{file}"], "results.sqlite", PNG),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_file_is_one_error_line_naming_it(case, in_repo, tmp_path, capsys):
    argv, name, content = CASES[case]
    path = corrupt(tmp_path, name, content)
    args = [a.replace("{file}", str(path)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err[-5:]
    assert str(path) in err[0] or path.name in err[0], err[0]


@pytest.mark.parametrize("content", ["model: [unclosed\n", "", PNG, "- a list\n"])
def test_a_bad_lightning_config_is_one_error_line(content, in_repo, tmp_path, capsys):
    path = corrupt(tmp_path, "config.yaml", content)
    assert main(["fit", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0], err[-5:]
