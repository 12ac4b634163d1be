"""`ftscale demo --study --world-seed N`: the study on another embedded world has its own ladder cache, points,
name and directory; the profiles exclude one another."""

from ftscale.cli import demo
from ftscale.cli.main import main
from ftscale.ladder.pretrain import load_pretrain_config
from ftscale.sweeps.spec import load_spec


def test_another_world_seed_gives_the_study_its_own_ladder_points_and_name(in_repo, tmp_path):
    study, _ = demo.PROFILES["study"]
    assert demo.world_seed_of(study) == 0
    path = demo.with_world_seed(study, 1, tmp_path / "study-w1")
    assert path.parent == tmp_path / "study-w1"
    original, other = load_spec(study, resolve=False), load_spec(path, resolve=False)
    assert other.name == "study-w1" and other.data["world_seed"] == 1
    ladder = load_pretrain_config(other.ladder)
    assert ladder.world_seed == 1 and ladder.key != load_pretrain_config(original.ladder).key
    # Everything else is the study: the same ladder sizes and budgets, the same points but for their world.
    assert ladder.tokens_per_parameter == load_pretrain_config(original.ladder).tokens_per_parameter
    assert len(other.points()) == len(original.points())
    assert not {p.id for p in other.points()} & {p.id for p in original.points()}
    assert all(p.args[p.args.index("--data.world_seed") + 1] == "1" for p in other.points())


def test_the_profiles_exclude_one_another_in_one_error_line_naming_both(in_repo, tmp_path, capsys):
    assert main(["demo", "--quick", "--study", "--dir", str(tmp_path / "demo")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --quick and --study exclude one another")
    assert not (tmp_path / "demo").exists()  # refused before anything ran
