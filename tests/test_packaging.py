"""The `ftscale.` namespace: every room installed under it and listed, nothing bare at the top, no import cycles."""

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import tomllib

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
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
