"""Where a store lives: parsing a store URL or path strictly, keeping its password out of every URL that is shown or
handed on, and choosing the default."""

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ftscale.errors import InputError

ENV = "FTSCALE_STORE"
FILE = "results.sqlite"
EXPECTED = "sqlite:///PATH (or a plain path) for one machine, postgresql://USER@HOST[:PORT]/DATABASE for many"
POSTGRES = "postgresql://USER@HOST[:PORT]/DATABASE (or postgresql://?service=NAME, a pg_service.conf entry)"
SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
# `name:` at the start: a URL's scheme (two letters or more, so that a Windows drive letter stays a path).
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
NAMES_A_SERVER = ("host", "hostaddr", "service", "dbname")  # libpq parameters that say where to connect


@dataclass(frozen=True)
class Address:
    """A parsed store location. `target` is the SQLite file, or the libpq URL without its password and sweep;
    `shown` is the URL as given with its password hidden; `password` (None if the URL had none) stays in memory."""

    scheme: str  # "sqlite" or "postgresql"
    target: str
    sweep: str | None  # the `?sweep=NAME` of the URL, if any
    shown: str
    password: str | None = None


def parse(url_or_path: str | Path) -> Address:
    """Parse `sqlite:///PATH`, a plain path, or `postgresql://...` (`postgres://` too).

    InputError, in one line without the password, for anything else: an unknown or misspelled scheme, a PostgreSQL
    URL that names no server or database or has a bad port or parameter, or a `name:` prefix (a URL missing its
    `//`) that is not an existing file -- never an SQLite file made by mistake.
    """
    text = str(url_or_path)
    if not text.strip():
        raise InputError(f"the store URL is empty; expected {EXPECTED}")
    prefix = SCHEME.match(text)
    if prefix is None:
        return Address("sqlite", text, None, text)
    scheme = prefix.group(1).lower()
    if not text[prefix.end() :].startswith("//"):
        if Path(text).exists():  # a file whose name only looks like a URL
            return Address("sqlite", text, None, text)
        meant = f"{SCHEMES[scheme]}://..." if scheme in SCHEMES else EXPECTED
        raise InputError(
            f"store {redact(text)!r} is neither a URL (`{prefix.group(1)}:` without `//`) nor an existing file; "
            f"expected {meant}"
        )
    if scheme not in SCHEMES:
        close = difflib.get_close_matches(scheme, SCHEMES, n=1)
        meant = f" (did you mean {SCHEMES[close[0]]}://?)" if close else ""
        raise InputError(f"store URL {redact(text)!r}: unknown scheme {scheme!r}{meant}; expected {EXPECTED}")
    return _sqlite(text) if SCHEMES[scheme] == "sqlite" else _postgres(text)


def _sqlite(text: str) -> Address:
    shown = redact(text)
    path, _, query = text[len("sqlite:///") :].partition("?") if text.lower().startswith("sqlite:///") else ("", "", "")
    if not path:
        raise InputError(f"store URL {shown!r}: no file; expected sqlite:///PATH (e.g. sqlite:///runs/x.sqlite)")
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - {"sweep"})
    if unknown:
        raise InputError(f"store URL {shown!r}: unknown parameter {unknown[0]!r}; an SQLite URL takes only ?sweep=NAME")
    return Address("sqlite", path, params.get("sweep"), shown)


def _postgres(text: str) -> Address:
    shown = redact(text)
    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    password = unquote(secret) if colon else params.get("password")
    for host in filter(None, hosts.split(",")):
        port = _port(host)
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise InputError(f"store URL {shown!r}: port {port!r} is no port number (1 to 65535); expected {POSTGRES}")
    if not hosts and parts.path in ("", "/") and not set(params) & set(NAMES_A_SERVER):
        raise InputError(f"store URL {shown!r} names no server and no database; expected {POSTGRES}")
    rest = urlencode([(key, value) for key, value in query if key not in ("sweep", "password")])
    target = f"postgresql://{user + at if at else ''}{hosts}{parts.path}" + (f"?{rest}" if rest else "")
    from psycopg import ProgrammingError  # imported only for PostgreSQL URLs
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(target)  # libpq's own parser: unknown parameters, bad encodings
    except ProgrammingError as error:
        reason = " ".join(str(error).split())
        raise InputError(f"store URL {shown!r}: {reason}; expected {POSTGRES}") from None
    return Address("postgresql", target, params.get("sweep"), shown, password)


def _port(host: str) -> str | None:
    """The port of one `HOST[:PORT]` of a URL (an IPv6 host in brackets), None if it gives none."""
    tail = host.rpartition("]")[2] if host.startswith("[") else host
    return tail.rpartition(":")[2] if ":" in tail else None


def redact(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by ***."""
    url = re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def with_sweep(target: str, sweep: str) -> str:
    """A PostgreSQL URL that names one sweep, so that one string addresses the store (e.g. for another process)."""
    return f"{target}{'&' if '?' in target else '?'}{urlencode({'sweep': sweep})}"


def store_url(option: str | None, sweep_dir: Path) -> str:
    """The store a command uses: `option` (--store), else $FTSCALE_STORE, else `sqlite:///<sweep_dir>/results.sqlite`.

    InputError if the chosen URL is malformed (see `parse`).
    """
    chosen = option or os.environ.get(ENV)
    if chosen:
        parse(chosen)
        return chosen
    return f"sqlite:///{(Path(sweep_dir) / FILE).resolve()}"


def without_password(url: str | None) -> str | None:
    """The URL with its password taken out (a PostgreSQL store's password then comes from libpq's own sources:
    $PGPASSWORD, ~/.pgpass, a service file); anything else unchanged. For URLs that are saved or handed on."""
    if url is None:
        return None
    address = parse(url)
    if address.password is None:
        return url
    return address.target if address.sweep is None else with_sweep(address.target, address.sweep)
