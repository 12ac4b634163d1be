"""No credential is ever written or printed: a sweep on a password-protected PostgreSQL role -- four runner processes,
one killed with kill -9, `sweep status`, `sweep migrate` both ways, `sweep init` and one of its commands, SLURM
array tasks (submitit's local executor), a wrong password -- leaves the password in no file and no output."""

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftscale.sweeps.store import open_store
from tests.postgres import password_role
from tests.sweeps.test_runner import ROOT, TEST_SPEC

THREE = "configs/sweeps/three_points.yaml"
# The SLURM part, in a process of its own: the test's own process keeps no password in its environment.
SUBMIT = """
import sys
from ftscale.reports.finalize import complete_sweep
from ftscale.sweeps.slurm import Resources, submit_array
spec, sweep_dir, url = sys.argv[1:]
_, jobs = submit_array(spec, sweep_dir, 2, Resources(time_min=30), store=url, fit=complete_sweep, cluster="local")
print(sum(job.result() for job in jobs), "points run by the array tasks")
"""


def renamed(spec: str, name: str, directory: Path) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load((ROOT / spec).read_text()) | {"name": name}))
    return path


def occurrences(root: Path, secret: bytes) -> list[str]:
    """Every file under `root` that holds `secret` (binary files too: checkpoints, stores, W&B records)."""
    return [str(path) for path in root.rglob("*") if path.is_file() and not path.is_symlink()
            and secret in path.read_bytes()]  # fmt: skip


@pytest.mark.slow
def test_a_password_protected_store_leaves_its_password_in_no_file_and_no_output(
    in_repo, test_ladder, tmp_path, postgres_url
):
    url, password = password_role(postgres_url, f"secret_{os.getpid()}")
    (tmp_path / "home").mkdir()
    (tmp_path / "tmp").mkdir()
    # No other source of the password: no $PGPASSWORD, no ~/.pgpass; W&B offline; temporary files under tmp_path.
    env = os.environ | {"HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp"), "WANDB_MODE": "offline"}
    for name in ("PGPASSWORD", "PGPASSFILE", "WANDB_API_KEY", "FTSCALE_STORE"):
        env.pop(name, None)
    printed: list[str] = []

    def ftscale(*args: str, code: int = 0, extra_env: dict | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "ftscale.cli", *args], cwd=ROOT, env=env | (extra_env or {}),
                              capture_output=True, text=True)  # fmt: skip
        printed.append(done.stdout + done.stderr)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout + done.stderr

    # Four runner processes, one of them killed with kill -9 while it runs a point.
    sweep = tmp_path / "sweep"
    # configs/sweeps/test.yaml at two finetuning sizes: 10 points, enough for 4 runners and one killed mid-point.
    spec = tmp_path / "test.yaml"
    spec.write_text(yaml.safe_dump(yaml.safe_load((ROOT / TEST_SPEC).read_text()) | {"train_sizes": [8, 16]}))
    command = ["sweep", "run", str(spec), "--dir", str(sweep), "--store", url, "--workers", "4"]
    runner = subprocess.Popen([sys.executable, "-m", "ftscale.cli", *command], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    while not (sweep / "spec.yaml").is_file():  # written once the points are in the store
        assert runner.poll() is None, runner.communicate()[0]
        time.sleep(0.1)
    store = open_store(url, sweep="test")
    while not any(row["status"] == "running" for row in store.rows()):
        assert runner.poll() is None, runner.communicate()[0]
        time.sleep(0.1)
    victim = next(row["lease_owner"] for row in store.rows() if row["status"] == "running")
    os.kill(int(victim.split(":")[1]), signal.SIGKILL)
    printed.append(runner.communicate()[0])
    assert runner.returncode == 1 and "1 of 4 runner processes crashed" in printed[-1]  # the killed one
    assert store.counts()["done"] == len(store.rows())  # its point was taken over by another runner
    assert (sweep / "laws.json").is_file()

    ftscale("sweep", "status", str(sweep), "--store", url)
    ftscale("sweep", "migrate", f"{url}?sweep=test", str(tmp_path / "copy.sqlite"))
    ftscale("sweep", "migrate", str(tmp_path / "copy.sqlite"), url)  # and back: brought up to date
    init = ftscale("sweep", "init", THREE, "--dir", str(tmp_path / "init"), "--store", url)
    first = next(shlex.split(line)[1:] for line in init.splitlines() if line.startswith("ftscale fit"))
    ftscale(*first, extra_env={"PGPASSWORD": password})  # the user's own launcher: the password from $PGPASSWORD
    spec = renamed(THREE, "slurm-three", tmp_path)
    slurm = subprocess.run([sys.executable, "-c", SUBMIT, str(spec), str(tmp_path / "slurm"), url], cwd=ROOT, env=env,
                           capture_output=True, text=True)  # fmt: skip
    printed.append(slurm.stdout + slurm.stderr)
    assert slurm.returncode == 0 and "3 points run" in slurm.stdout, slurm.stderr
    assert open_store(url, sweep="slurm-three").is_complete() and (tmp_path / "slurm" / "laws.json").is_file()
    wrong = ftscale("sweep", "status", str(sweep), "--store", url.replace(password, "not-the-password"), code=2)
    assert "password authentication failed" in wrong and "not-the-password" not in wrong

    assert occurrences(tmp_path, password.encode()) == []
    assert [text for text in printed if password in text] == []
    assert (tmp_path / "slurm" / "slurm").is_dir() and list((sweep / "wandb").glob("offline-run-*"))
