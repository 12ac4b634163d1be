"""Store URLs are parsed strictly: every malformed one is one line naming what would be valid (never a traceback,
never an SQLite file made by mistake), and no password is ever shown or handed on."""

import psycopg
import pytest

from ftscale.cli.main import main
from ftscale.sweeps.store import open_store
from ftscale.sweeps.store import postgres as backend
from ftscale.sweeps.store.url import parse, without_password
from tests.sweeps.test_runner import TEST_SPEC

SECRET = "hunter2"
MALFORMED = [
    ("postgresql://", "names no server and no database; expected postgresql://USER@HOST"),
    ("postgres:/x", "is neither a URL (`postgres:` without `//`) nor an existing file; expected postgresql://"),
    ("postgresql://u@h:notaport/db", "port 'notaport' is no port number (1 to 65535)"),
    (f"mysql://u:{SECRET}@h/db", "unknown scheme 'mysql'; expected sqlite:///PATH (or a plain path)"),
    (f"postgress://u:{SECRET}@h/db", "unknown scheme 'postgress' (did you mean postgresql://?)"),
    (f"postgresql://u:{SECRET}@h/db?sslmod=require", 'invalid URI query parameter: "sslmod"'),
    ("sqlite://runs/x.sqlite", "no file; expected sqlite:///PATH"),
    ("sqlite:///x.sqlite?swep=a", "unknown parameter 'swep'; an SQLite URL takes only ?sweep=NAME"),
]


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("url", "says"), MALFORMED)
def test_a_malformed_store_url_is_one_line_naming_what_is_valid_and_makes_nothing(
    url, says, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # a relative store a bad URL were taken for would appear here
    (tmp_path / "sweep").mkdir()
    assert main(["sweep", "status", "sweep", "--store", url]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert says in line and SECRET not in line
    assert [path.name for path in tmp_path.iterdir()] == ["sweep"] and not any((tmp_path / "sweep").iterdir())


def test_a_run_with_a_url_missing_its_slashes_is_refused_before_anything_is_written(in_repo, tmp_path, capsys):
    url = f"postgres:{tmp_path}/store"
    assert main(["sweep", "run", TEST_SPEC, "--dir", str(tmp_path / "sweep"), "--store", url]) == 2
    assert "is neither a URL" in one_error_line(capsys.readouterr().err)
    assert not any(tmp_path.iterdir())


def test_a_scheme_like_prefix_naming_an_existing_file_is_that_file(tmp_path, monkeypatch):
    made = open_store(tmp_path / "postgres:" / "x", sweep="odd")  # an absolute path: no scheme to mistake
    monkeypatch.chdir(tmp_path)
    assert parse("postgres:/x").scheme == "sqlite" and open_store("postgres:/x").sweep_uid() == made.sweep_uid()


def test_the_password_is_kept_apart_from_every_url_handed_on():
    address = parse("postgresql://me:p%40ss@db.lab:5433/ftscale?sslmode=require&sweep=demo")
    assert address.password == "p@ss"  # percent-decoded, as libpq reads it
    assert address.target == "postgresql://me@db.lab:5433/ftscale?sslmode=require" and address.sweep == "demo"
    assert address.shown == "postgresql://me:***@db.lab:5433/ftscale?sslmode=require&sweep=demo"
    assert without_password("postgresql://me:p%40ss@db/ftscale?sweep=demo") == "postgresql://me@db/ftscale?sweep=demo"
    assert without_password(f"postgresql://me@db/ftscale?password={SECRET}") == "postgresql://me@db/ftscale"
    assert without_password("postgresql://?service=lab") == "postgresql://?service=lab"  # a pg_service.conf entry
    assert without_password("runs/x/results.sqlite") == "runs/x/results.sqlite"


@pytest.mark.parametrize(
    ("url", "timeout"), [("postgresql://me@db/x", 5), ("postgresql://me@db/x?connect_timeout=2", "2")]
)
def test_connections_time_out_and_their_errors_are_one_line_without_the_password(url, timeout, monkeypatch):
    asked = {}

    def unreachable(**params):
        asked.update(params)
        raise psycopg.OperationalError(f"connection to server at db failed: timeout expired ({params['password']})")

    monkeypatch.setattr(backend.psycopg, "connect", unreachable)
    with pytest.raises(ValueError) as error:
        open_store(url.replace("me@", f"me:{SECRET}@"), sweep="demo")
    message = str(error.value)
    assert asked["connect_timeout"] == timeout and asked["password"] == SECRET  # the URL's own timeout wins
    assert "\n" not in message and "timeout expired (***)" in message and SECRET not in message


def test_a_wrong_password_is_one_line_without_either_password(postgres_url, tmp_path, capsys):
    password = parse(postgres_url).password
    wrong = postgres_url.replace(password, "wrong-password")
    (tmp_path / "sweep").mkdir()
    assert main(["sweep", "status", str(tmp_path / "sweep"), "--store", wrong]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "password authentication failed" in line and "expected a user and password" in line
    assert "wrong-password" not in line and password not in line
