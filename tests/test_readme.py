"""The README's quick start is what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    test_command = next(b for b in blocks if b.endswith("pytest"))
    assert (ROOT / ".ci/run").read_text().strip().splitlines()[-1] == test_command
