"""The docs' examples work where a user runs them: in a directory of their own, with the checkout off `sys.path`
(only the installed `ftscale.*` names import there), and the worked example of docs/architecture.md trains."""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import make_batch, train_on

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILE_NAME = re.compile(r"# (\S+\.(?:py|yaml))\n")  # a block whose first line names it is that file


def blocks(language: str) -> list[tuple[Path, str]]:
    """(doc, code) of every fenced block in `language`."""
    return [
        (doc, code)
        for doc in DOCS
        for lang, code in re.findall(r"```(\w*)\n(.*?)```", doc.read_text(), flags=re.S)
        if lang == language
    ]


def write_named_files(folder: Path) -> dict[str, Path]:
    """Every block that starts with `# <name>.py` or `# <name>.yaml`, written to `folder` as that file."""
    written = {}
    for language in ("python", "yaml"):
        for _, code in blocks(language):
            if match := FILE_NAME.match(code):
                written[match.group(1)] = folder / match.group(1)
                written[match.group(1)].write_text(code)
    return written


def outside_the_checkout(tmp_path: Path, *args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    """Run a command in `tmp_path` with an environment that does not put the checkout on `sys.path`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_every_import_and_class_path_in_the_docs_resolves_outside_the_checkout(tmp_path):
    write_named_files(tmp_path)  # the docs' own example modules (my_methods.py) import from the user's directory
    imports = [
        ast.unparse(node)
        for _, code in blocks("python")
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    class_paths = [
        path for _, code in blocks("yaml") for path in re.findall(r"^\s*class_path:\s*(\S+)", code, flags=re.M)
    ]
    assert imports and class_paths
    check = (
        "import importlib, importlib.util\n"
        "assert importlib.util.find_spec('lightning_modules') is None, 'the checkout is on sys.path'\n"
        + "".join(f"{line}\n" for line in imports)
        + "".join(
            f"getattr(importlib.import_module({module!r}), {name!r})\n"
            for module, name in (path.rsplit(".", 1) for path in class_paths)
        )
    )
    result = outside_the_checkout(tmp_path, sys.executable, "-c", check)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_method_example_runs_as_the_docs_say_from_another_directory(tmp_path):
    files = write_named_files(tmp_path)
    assert {"my_methods.py", "my_method.yaml"} <= set(files)
    ftscale = Path(sys.executable).parent / "ftscale"
    # `PYTHONPATH=. ftscale fit --config configs/quickstart.yaml --model my_method.yaml`: no configs/ here, so
    # ftscale reads its own copy of the quick start.
    result = outside_the_checkout(
        tmp_path,
        str(ftscale),
        "fit",
        "--config",
        "configs/quickstart.yaml",
        "--model",
        "my_method.yaml",
        "--print_config",
        pythonpath=".",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert yaml.safe_load(result.stdout)["model"]["class_path"] == "my_methods.RsLoRA"


def test_the_method_example_trains_only_its_own_parameters(make_backbone, tmp_path):
    path = write_named_files(tmp_path)["my_methods.py"]
    spec = importlib.util.spec_from_file_location("my_methods", path)
    my_methods = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(my_methods)
    module = my_methods.RsLoRA(backbone=str(make_backbone("xs")), rank=1, learning_rate=0.01)
    module.configure_model()
    assert 0 < module.trainable_parameters < module.total_parameters / 20
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    train_on(module, [make_batch(vocab=module.model.config.vocab_size)] * 2, tmp_path)
    changed = {n for n, p in module.named_parameters() if not (p.detach() == before[n]).all()}
    assert changed == {n for n, p in module.named_parameters() if p.requires_grad}
