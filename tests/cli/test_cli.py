"""The `ftscale` command: help, config printing, one-line errors for bad input, and real runs."""

import csv
import inspect
import math
from pathlib import Path

import pytest
import torch
import yaml

from ftscale.cli.commands import Function, Group
from ftscale.cli.demo import PROFILES, with_world_seed, world_seed_of
from ftscale.cli.lightning import FtscaleCLI, config_args
from ftscale.cli.main import COMMANDS as TABLE
from ftscale.cli.main import hint, main
from ftscale.configs import INSTALLED, config_path
from ftscale.errors import InputError
from ftscale.sweeps.spec import load_spec
from tests.conftest import TEST_LADDER

QUICKSTART = ["--config", "configs/quickstart.yaml"]


def run_fit(*args: str) -> int:
    return main(["fit", *QUICKSTART, "--ladder", str(TEST_LADDER), *args])


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "pretrain", "export", "law", "sweep", "demo"):
        assert f"\n  {command} " in out


def test_unknown_command_is_refused(capsys):
    assert main(["train"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ftscale: no command 'train'; choose from fit, validate, test, pretrain,")


def typed_commands(group: Group, prog: str = "ftscale") -> dict[str, Function]:
    """Every command of the dispatch table that is a typed function, by its command line (`ftscale law fit`)."""
    found = {}
    for name, command in group.commands.items():
        if isinstance(command, Group):
            found |= typed_commands(command, f"{prog} {name}")
        elif isinstance(command, Function):
            found[f"{prog} {name}"] = command
    return found


@pytest.mark.parametrize("prog", sorted(typed_commands(TABLE)))
def test_help_of_every_typed_command_shows_each_option_with_its_help_and_default(prog, capsys):
    function = typed_commands(TABLE)[prog].load()
    assert main([*prog.split()[1:], "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"usage: {prog}")
    for name, param in inspect.signature(function).parameters.items():
        option = param.kind is param.KEYWORD_ONLY
        head = f"  --{name.replace('_', '-')}" if option else f"  {name}"
        start = next(i for i, line in enumerate(lines) if line.startswith((f"{head} ", f"{head},")) or line == head)
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 8)), len(lines))
        text = " ".join(" ".join(lines[start:end])[len(head) :].split())
        help_text = text.split(" (", 1)[0] if option else text
        assert help_text and not help_text.startswith("("), f"{prog} {name}: no help: {text}"
        if param.default is param.empty:
            assert "required" in text, f"{prog} {name}: {text}"
        else:
            shown = "null" if param.default is None else str(param.default)
            assert f"default: {shown})" in text, f"{prog} {name}: {text}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["law", "fit", "p.csv", "--df", "d", "--loss", "l", "--delta", "0"], "argument --delta: '0' must be a finite"),
        (["law", "predict", "f.json", "--df", "1e3", "nan"], "argument --df: 'nan' must be a finite number > 0"),
        (["law", "critical", "a.json", "b.json", "--level", "1.5"], "argument --level: '1.5' must be a coverage in"),
        (["law", "decide", "a.json", "b.json", "--df", "10", "--x", "big"], "argument --x: 'big' is not a number"),
        (["law", "needed", "f.json"], "missing --target"),
        (["law", "fit", "p.csv", "--df", "d", "--loss", "l", "--loss-kind", "l2"], "argument --loss-kind: invalid"),
        (["law", "fit-sweep", "runs/x", "--bootstrap", "many"], "argument --bootstrap: Expected a <class 'int'>"),
        (["law", "fit-sweep", "runs/x", "--wandb", "on"], "argument --wandb: invalid choice: 'on'"),
        (["select", "t.csv", "--target-df", "1e6", "--candidate", "m", "--df", "d", "--loss", "l", "--predictor", "x"],
         "argument --predictor: invalid choice: 'x' (choose from 'tail', 'tail-pooled')"),
        (["pretrain", "--sizes"], "argument --sizes: expected at least one argument"),
        (["export", "best.ckpt"], "missing out_dir"),
        (["law", "fitt"], "ftscale law: no command 'fitt'; choose from fit, fit-sweep, predict,"),
        (["sweep", "plan", "s.yaml", "--mfu", "0"], "argument --mfu: '0' must be a finite number > 0"),
        (["sweep", "run", "s.yaml", "--launcher", "pbs"], "argument --launcher: invalid choice: 'pbs'"),
        (["sweep", "point", "s.yaml"], "missing --point"),
        (["sweep", "runn"], "ftscale sweep: no command 'runn'; choose from plan, init, run, point, status,"),
        (["demo", "--workers", "many"], "argument --workers: Expected a <class 'int'>"),
    ],
)  # fmt: skip
def test_a_bad_option_is_one_error_line_naming_it_with_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {message}"), line


def test_print_config_shows_the_swapped_method_and_kept_backbone(in_repo, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", *QUICKSTART, "--model", "configs/methods/prompt_tuning.yaml", "--print_config"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "class_path: ftscale.lightning_modules.PromptTuning" in out
    assert "backbone: ladder:m" in out
    assert "num_virtual_tokens: 20" in out


def test_unknown_method_class_is_refused_before_anything_runs(in_repo, capsys):
    assert main(["fit", *QUICKSTART, "--model.class_path", "ftscale.lightning_modules.NoSuchMethod"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "NoSuchMethod" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.backbone", "/no/such/model"], "model.backbone='/no/such/model': no Hugging Face model directory"),
        (["--data.train_size", "100000000"], "train_size"),
        (["--data.train_size", "0"], "train_size"),
        (["--data.target_lang", "zz"], "zz"),
        (["--data.target_lang", ""], "target_lang"),
    ],
)
def test_bad_input_ends_in_one_error_line(args, message, in_repo, capsys, make_backbone, tmp_path):
    backbone = [] if "--model.backbone" in args else ["--model.backbone", str(make_backbone("xs"))]
    code = run_fit(*backbone, *args, "--trainer.default_root_dir", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_config_files_named_on_the_command_line_are_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: ftscale's own copies are read
    (tmp_path / "mine.yaml").write_text("trainer: {max_steps: 1}\n")
    argv = ["fit", "--config", "configs/quickstart.yaml", "--model=configs/methods/lora.yaml", "--trainer",
            "mine.yaml", "--ladder", "configs/pretrain/test.yaml", "--data.target_lang", "configs/x",
            "--model.class_path", "a.B"]  # fmt: skip
    assert config_args(argv) == [
        "fit", "--config", str(INSTALLED / "quickstart.yaml"), f"--model={INSTALLED / 'methods' / 'lora.yaml'}",
        "--trainer", "mine.yaml", "--ladder", str(INSTALLED / "pretrain" / "test.yaml"),
        "--data.target_lang", "configs/x", "--model.class_path", "a.B",
    ]  # fmt: skip


def test_the_demo_reads_its_spec_and_the_files_it_names_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = with_world_seed(config_path(PROFILES["quick"][0]), 3, tmp_path / "w3")  # --world-seed 3
    assert world_seed_of(spec) == 3
    assert load_spec(spec).name == "demo-quick-w3"  # its base config, ladder and methods found


def law_points(tmp_path, loss: float = 2.0) -> str:
    """A small table of (df, loss) points for `ftscale law fit`; the last point's loss is `loss`."""
    path = tmp_path / "points.csv"
    path.write_text("df,loss\n100,3.0\n1000,2.5\n10000,2.2\n" + f"100000,{loss}\n")
    return str(path)


def sweep_spec(tmp_path, **fields) -> str:
    """configs/sweeps/test.yaml with some fields replaced."""
    spec = yaml.safe_load(Path("configs/sweeps/test.yaml").read_text()) | fields
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


# command -> (argv of a run that reaches real work, a function it calls, argv with one bad value, the error's start);
# each argv is built from the test's directory and a backbone (a local directory: nothing is pretrained).
FIT_IN = ["fit", *QUICKSTART, "--trainer.default_root_dir"]
COMMANDS = {
    "fit": (
        lambda tmp, backbone: [*FIT_IN, str(tmp), "--ladder", str(TEST_LADDER)],
        "ftscale.cli.lightning.resolve_backbone",
        lambda tmp, backbone: [*FIT_IN, str(tmp), "--model.backbone", backbone, "--data.train_size", "0"],
        "error: data.train_size=0 must be at least 1",
    ),
    "sweep plan": (
        lambda tmp, backbone: ["sweep", "plan", "configs/sweeps/test.yaml"],
        "ftscale.sweeps.spec.load_spec",
        lambda tmp, backbone: ["sweep", "plan", sweep_spec(tmp, seeds=[])],
        "error: seeds:",
    ),
    "law fit": (
        lambda tmp, backbone: ["law", "fit", law_points(tmp), "--law", "power", "--df", "df", "--loss", "loss"],
        "ftscale.cli.law.read_points",
        lambda tmp, backbone: ["law", "fit", law_points(tmp, -1.0), "--law", "power", "--df", "df", "--loss", "loss"],
        "error: ",
    ),
}


def injected_bug(*args, **kwargs):
    raise KeyError("injected")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bug_shows_its_traceback_and_a_hint_with_exit_code_1(command, in_repo, tmp_path, monkeypatch, capsys):
    argv, function, _, _ = COMMANDS[command]
    monkeypatch.setattr(function, injected_bug)
    assert main(argv(tmp_path, "unused")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback (most recent call last):" in err and "KeyError: 'injected'" in err, err[-5:]
    assert err[-1].startswith("hint: ") and "bug" in err[-1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_value_is_one_error_line_with_exit_code_2(command, in_repo, make_backbone, tmp_path, capsys):
    _, _, argv, start = COMMANDS[command]
    args = argv(tmp_path, str(make_backbone("xs")))
    capsys.readouterr()  # only what the command prints
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(start), err[-5:]


def test_ftscale_debug_shows_the_traceback_of_an_input_error(in_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCALE_DEBUG", "1")
    with pytest.raises(InputError, match="seeds"):
        main(["sweep", "plan", sweep_spec(tmp_path, seeds=[])])


def test_running_out_of_gpu_memory_hints_at_the_batch_size():
    assert "data.batch_size" in hint(torch.OutOfMemoryError("CUDA out of memory"))
    assert "bug" in hint(KeyError("x")) and "bug" not in hint(torch.OutOfMemoryError("CUDA out of memory"))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fmt", "prompt_tuning", "lora"])
def test_quickstart_fits_each_method_and_reports_val_and_test_loss(method, in_repo, test_ladder, tmp_path):
    cli = FtscaleCLI(
        [
            "fit",
            *QUICKSTART,
            "--ladder",
            str(TEST_LADDER),
            "--model",
            f"configs/methods/{method}.yaml",
            "--trainer.max_steps",
            "30",
            "--trainer.default_root_dir",
            str(tmp_path),
        ]
    )
    run_dir = tmp_path / "lightning_logs" / "version_0"
    assert (run_dir / "config.yaml").is_file()
    logged: dict[str, float] = {}
    with open(run_dir / "metrics.csv") as rows:
        for row in csv.DictReader(rows):
            logged.update({k: float(v) for k, v in row.items() if v})
    for key in ("train/loss", "val/loss", "val/ppl", "test/loss", "test/ppl"):
        assert math.isfinite(logged[key]), key
    assert logged["test/ppl"] == pytest.approx(math.exp(logged["test/loss"]), rel=1e-4)
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["trainable_params"] == cli.model.trainable_parameters > 0
    assert hparams["total_params"] == cli.model.total_parameters
