"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temporary directory.

Run as an unprivileged user (`postgres` or `nobody` under root: the server refuses to run as root), on a free
TCP port of 127.0.0.1 with password authentication, so that tests can also present wrong credentials.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

USER = "ftscale"
DATABASE = "ftscale_test"
INSTALL = "apt-get install -y postgresql (Debian) or see docs/clusters.md"


def server_bin() -> Path | None:
    """The directory of initdb and pg_ctl: from PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server, yield `postgresql://ftscale:PASSWORD@127.0.0.1:PORT/ftscale_test`, stop and delete it after.

    RuntimeError (with the server's log) if it does not start; FileNotFoundError if PostgreSQL is not installed.
    """
    bin_dir = server_bin()
    if bin_dir is None:
        raise FileNotFoundError(f"PostgreSQL server (initdb, pg_ctl) not found: {INSTALL}")
    root = Path(tempfile.mkdtemp(prefix="ftscale-pg-"))
    password = secrets.token_hex(8)
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(root, user)
        as_user = ["runuser", "-u", user, "--"]
    (root / "password").write_text(password)
    os.chmod(root / "password", 0o644)
    data, log, port = root / "data", root / "server.log", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}{tail}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={root / 'password'}", "-E", "UTF8",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions")  # fmt: skip
        # Durability off: a test server trades crash safety for speed; locking and isolation are unchanged.
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options + " -c max_connections=200",
            "-w", "-t", "60", "start")  # fmt: skip
        url = f"postgresql://{USER}:{password}@127.0.0.1:{port}"
        with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield f"{url}/{DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def password_role(admin_url: str, name: str) -> tuple[str, str]:
    """A new role `name` that logs in with a random password of its own, and a database it owns, on the server of
    `admin_url`; return the role's database URL (with the password) and the password."""
    password = secrets.token_hex(12)  # hex: found as is in any file or output that holds it
    server = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    host = server.rsplit("@", 1)[1]
    return f"postgresql://{name}:{password}@{host}/{name}", password


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
