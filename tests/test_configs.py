"""Every shipped config and sweep spec loads: method, task, eval and trainer files through `ftscale fit`'s parser,
pretraining configs and sweep specs through their own loaders. A file under configs/ that no case covers fails."""

from pathlib import Path

import pytest
import yaml

from ftscale.cli.main import main
from ftscale.ladder.pretrain import load_pretrain_config
from ftscale.sweeps.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml"))
# The option of `ftscale fit` each folder's files are given to.
LIGHTNING = {"methods": "--model", "tasks": "--data", "eval": "--data", "trainer": "--trainer"}


def test_every_config_is_covered():
    folders = {Path(c).parts[1] for c in CONFIGS if len(Path(c).parts) > 2}
    assert folders <= {*LIGHTNING, "pretrain", "sweeps"}, folders


@pytest.mark.parametrize("config", [c for c in CONFIGS if len(Path(c).parts) == 2 or Path(c).parts[1] in LIGHTNING])
def test_lightning_configs_parse(config, in_repo, capsys):
    option = LIGHTNING.get(Path(config).parts[1]) if len(Path(config).parts) > 2 else "--config"
    base = [] if option == "--config" else ["--config", "configs/quickstart.yaml"]
    with pytest.raises(SystemExit) as exit_:
        main(["fit", *base, option, config, "--print_config"])
    assert exit_.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    own = yaml.safe_load((ROOT / config).read_text())
    if "class_path" in own:  # the file's class is the one the run would build
        group = {"--model": "model", "--data": "data"}[option]
        assert printed[group]["class_path"] == own["class_path"]


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.startswith("configs/pretrain/")])
def test_pretraining_configs_load(config):
    assert load_pretrain_config(ROOT / config).sizes


@pytest.mark.parametrize("spec", [c for c in CONFIGS if c.startswith("configs/sweeps/")])
def test_sweep_specs_load_and_expand(spec, in_repo):
    loaded = load_spec(spec, resolve=False)  # without the hub: the paper's specs name models not cached here
    points = loaded.points()
    assert points and len({p.id for p in points}) == len(points)
