"""The `ftscale.` namespace: every room installed under it and listed, nothing bare at the top, no import cycles; the
configs shipped as package data; a wheel that works from an empty directory."""

import ast
import graphlib
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from ftscale.configs import INSTALLED, config_path

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
ROOMS = {name.removeprefix("ftscale."): folder for name, folder in SETUPTOOLS["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Every module of the project by its installed name."""
    found = {}
    for room, folder in ROOMS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join(["ftscale", room, *parts]).removesuffix(".__init__")
            found[name] = path
    return found


def test_every_package_folder_is_listed_and_mapped():
    packages = {
        "ftscale." + ".".join((room, *init.parent.relative_to(ROOT / folder).parts)).rstrip(".")
        for room, folder in ROOMS.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == packages
    assert all(name.startswith("ftscale.") for name in SETUPTOOLS["packages"])


def test_outside_the_checkout_only_the_namespace_imports(tmp_path):
    code = (
        "import importlib.util, ftscale.callbacks, ftscale.cli.main\n"
        f"bare = [r for r in {sorted(ROOMS)!r} if importlib.util.find_spec(r) is not None]\n"
        "assert not bare, bare\n"
        "print(ftscale.callbacks.ScalingLawCallback.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ftscale.callbacks.scaling_law"


def test_no_import_cycles_between_modules():
    """Every import counts, also one inside a function: a lazy import still ties the two modules together."""
    graphlib.TopologicalSorter(import_graph()).prepare()  # raises CycleError naming the cycle


def test_no_import_cycles_between_rooms():
    """The rooms (`ftscale.<room>` packages) import each other in one direction only, lazy imports included."""
    edges: dict[tuple[str, str], str] = {}  # (room, room it imports) -> one module import that makes the edge
    for module, targets in import_graph().items():
        for target in sorted(targets):
            pair = (module.split(".")[1], target.split(".")[1])
            if pair[0] != pair[1]:
                edges.setdefault(pair, f"{module} -> {target}")
    reach = {room: {b for a, b in edges if a == room} for room in ROOMS}
    for _ in ROOMS:  # transitive closure: few rooms, so a fixed number of passes
        reach = {room: found.union(*(reach[r] for r in found)) for room, found in reach.items()}
    cycles = sorted(f"{a} -> {b}: {edge}" for (a, b), edge in edges.items() if a in reach[b])
    assert not cycles, "imports between rooms that lie on a cycle of rooms:\n" + "\n".join(cycles)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    names = modules()
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if _type_checking(block) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ftscale"):
                # `from ftscale.x import y` depends on module ftscale.x.y if there is one, else on ftscale.x.
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                           for a in node.names]  # fmt: skip
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in names and t != name}
    return graph


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def test_a_configs_path_missing_here_names_the_installed_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_path("configs/quickstart.yaml") == INSTALLED / "quickstart.yaml"
    assert config_path("./configs/methods/lora.yaml") == INSTALLED / "methods" / "lora.yaml"
    assert config_path("configs/no_such.yaml") == Path("configs/no_such.yaml")  # as given: the caller's error names it
    assert config_path("quickstart.yaml") == Path("quickstart.yaml")  # only configs/... paths have a second home
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "quickstart.yaml").write_text("seed_everything: 1\n")
    assert config_path("configs/quickstart.yaml") == Path("configs/quickstart.yaml")  # the user's own copy wins


def test_every_config_file_is_package_data():
    assert SETUPTOOLS["package-data"]["ftscale.configs"] == ["**/*.yaml"]
    files = [p for p in (ROOT / "configs").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.suffix for p in files if p.name != "__init__.py"} == {".yaml"}


# Not part of the package, or made by runs and builds: left out of the copy a wheel is built from.
NOT_SHIPPED = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", "runs", "wandb",
               "lightning_logs", "tests", "docs", "benchmarks")  # fmt: skip


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command outside the checkout's `sys.path` (no PYTHONPATH); fail with its output if it fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel_bin(tmp_path_factory) -> Path:
    """ftscale built as a wheel (offline, from a copy of the checkout) and installed into a fresh virtual environment
    that sees the project's dependencies through a `.pth` file but not the checkout; its `bin/` folder."""
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, root / "source", ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(root / "dist"),
         str(root / "source")])  # fmt: skip
    (wheel,) = (root / "dist").glob("ftscale-*.whl")
    run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")])
    python = root / "venv" / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    # A path listed in a .pth file joins sys.path, but its own .pth files (the checkout's editable install) do not run.
    Path(purelib, "project-dependencies.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    return root / "venv" / "bin"


# Where `ftscale` is imported from, and whether the checkout's bare room names import (they must not).
WHERE = "import importlib.util, ftscale.cli.main as m; print(m.__file__, importlib.util.find_spec('lightning_modules'))"
# The quick start on the test ladder (pretrained by this session, into the same FTSCALE_CACHE), for a few steps.
FIT = ["fit", "--config", "configs/quickstart.yaml", "--ladder", "configs/pretrain/test.yaml", "--model.backbone",
       "ladder:xs", "--data.pool_size", "64", "--data.val_size", "16", "--data.test_size", "16", "--data.train_size",
       "16", "--data.batch_size", "8", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
       "--generation.max_examples", "0", "--wandb", "off"]  # fmt: skip


@pytest.mark.slow
def test_the_wheel_plans_and_fits_from_an_empty_directory(wheel_bin, test_ladder, tmp_path):
    where = run([str(wheel_bin / "python"), "-c", WHERE], cwd=tmp_path).stdout.split()
    assert where[0].startswith(str(wheel_bin.parent)) and where[1:] == ["None"], where
    ftscale = str(wheel_bin / "ftscale")
    # The demo's spec, and the base config, ladder and method configs it names: all from the installed copy.
    assert "GPU-hours" in run([ftscale, "sweep", "plan", "configs/sweeps/demo_quick.yaml"], cwd=tmp_path).stdout
    run([ftscale, *FIT], cwd=tmp_path)
    (metrics,) = (tmp_path / "runs").glob("*/lightning_logs/version_0/metrics.csv")
    assert "test/loss" in metrics.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing else written into the directory
