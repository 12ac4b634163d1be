"""The catalogue of bad files across commands: every file the CLI reads can be corrupt, truncated, empty or the
wrong kind, and each case ends in one `error:` line naming the file, never a traceback."""

import os
from pathlib import Path

import pytest
import yaml

from ftscale.cli.main import main
from tests.datamodules.conftest import read_jsonl, split_files, write_records

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


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_corrupt_parquet_or_arrow_data_file_is_named_in_one_line(suffix, in_repo, make_backbone, tmp_path, capsys):
    # A task reads several files: the good training file is read first, then the corrupt validation file.
    train = write_records(tmp_path / f"train{suffix}", read_jsonl(Path(split_files("wmt_en_de")["train"])))
    bad = corrupt(tmp_path, f"validation{suffix}", os.urandom(4096))
    files = {**split_files("wmt_en_de"), "train": str(train), "validation": str(bad)}
    data = tmp_path / "data.yaml"
    task = {"class_path": "ftscale.datamodules.Translation", "init_args": {"data_files": files, "train_size": 8}}
    data.write_text(yaml.safe_dump(task))
    backbone = str(make_backbone("xs"))
    capsys.readouterr()  # only what the command prints
    args = ["--data", str(data), "--model.backbone", backbone, "--trainer.default_root_dir", str(tmp_path / "run")]
    assert main(["fit", "--config", "configs/quickstart.yaml", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    kind = "Parquet" if suffix == ".parquet" else "Arrow"
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: not a readable {kind} file ("), err[-5:]
