"""benchmarks/gpu_check.py: its options, the one line without a GPU, guarded parts, and a CPU dry run."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = sys.modules["gpu_check"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
spec.loader.exec_module(gpu_check)

TINY = ["--device", "cpu", "--size", "tiny", "--batch", "2", "--seq", "16", "--steps", "2", "--warmup", "1"]


def test_parts_run_in_the_check_order_whatever_order_they_are_named_in():
    args = gpu_check.parse_args(["--parts", "fsdp, fmt,attention"])
    assert args.parts == ("attention", "fmt", "fsdp")
    assert gpu_check.parse_args([]).parts == gpu_check.PARTS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "fmt,flash"], "--parts: 'fmt,flash': expected a comma-separated list from attention,fmt,"),
        (["--parts", ","], "--parts: ',': expected a comma-separated list"),
        (["--steps", "0"], "--steps: '0': expected a positive integer"),
        (["--seq", "4"], "--seq 4: at least 8 tokens a row"),
        (["--size", "7b"], "--size: invalid choice: '7b'"),
        (["--device", "tpu"], "--device: invalid choice: 'tpu'"),
    ],
)
def test_bad_options_are_refused_with_a_line_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_without_a_gpu_it_prints_one_line_and_exits_0():
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so this holds on GPU machines too.
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "1b"],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == [run.stdout.strip()]
    assert run.stdout.startswith("gpu_check: no CUDA GPU on this machine") and "nothing checked" in run.stdout


def test_a_failed_part_prints_its_error_and_the_others_still_run(monkeypatch, tmp_path, capsys):
    def broken(setup):
        raise RuntimeError("out of memory in a planted failure\nsecond line")

    monkeypatch.setitem(gpu_check.PART_FUNCTIONS, "fmt", broken)
    code = gpu_check.main([*TINY, "--parts", "fmt,attention", "--out", str(tmp_path / "r.json")])

    assert code == 1
    out = capsys.readouterr().out
    fmt_row = next(line for line in out.splitlines() if line.startswith("fmt "))
    assert "FAILED" in fmt_row and fmt_row.endswith("RuntimeError: out of memory in a planted failure")
    assert out.splitlines()[-1].startswith("failed: fmt (")
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(p["part"], p["passed"]) for p in report["parts"]] == [("attention", True), ("fmt", False)]
    assert "planted failure" in report["parts"][1]["traceback"]
    assert (report["passed"], report["complete"]) == (False, True)


@pytest.mark.slow
def test_every_part_runs_on_the_cpu_with_a_tiny_model(tmp_path, capsys):
    environ = dict(os.environ)
    code = gpu_check.main([*TINY, "--out", str(tmp_path / "r.json")])
    assert dict(os.environ) == environ  # no rank or rendezvous left for a process started later (FSDP's)

    report = json.loads((tmp_path / "r.json").read_text())
    parts = {p["part"]: p for p in report["parts"]}
    assert code == 0, {name: p["error"] for name, p in parts.items()}
    assert list(parts) == list(gpu_check.PARTS)
    attention = parts["attention"]["values"]
    assert (attention["chosen"], attention["reference"]) == ("sdpa", "eager")
    assert attention["max_relative_difference"] <= gpu_check.LOGIT_TOLERANCE
    for name in ("fmt", "lora", "qlora", "fsdp"):
        values = parts[name]["values"]
        assert values["weights_moved"] and values["tokens_per_s"] > 0
        assert values["mfu"] is None  # a CPU has no known peak
    assert parts["fmt"]["values"]["trainable_params"] == parts["fmt"]["values"]["total_params"]
    assert parts["lora"]["values"]["trainable_params"] < parts["lora"]["values"]["total_params"] / 10
    assert parts["qlora"]["values"]["nf4_layers"] == 2 * 7  # every projection of the 2 decoder layers
    assert parts["fsdp"]["values"]["fsdp_units"] == 2 + 1  # each decoder layer, then the root
    assert capsys.readouterr().out.splitlines()[-1].startswith("all 5 parts passed (")
