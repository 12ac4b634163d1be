"""Where a store lives: parsing a store URL or path, hiding its password in messages, and choosing the default."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ENV = "FTSCALE_STORE"
FILE = "results.sqlite"
EXPECTED = "sqlite:///PATH (or a plain path) for one machine, postgresql://USER@HOST[:PORT]/DATABASE for many"


@dataclass(frozen=True)
class Address:
    """A parsed store location: `target` is the SQLite file or the libpq URL (less `sweep`); `shown` has no password."""

    scheme: str  # "sqlite" or "postgresql"
    target: str
    sweep: str | None  # the `?sweep=NAME` of the URL, if any
    shown: str


def parse(url_or_path: str | Path) -> Address:
    """Parse `sqlite:///PATH`, a plain path or `postgresql://...` (or `postgres://`); ValueError for other schemes."""
    text = str(url_or_path)
    if "://" not in text:
        return Address("sqlite", text, None, text)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"store URL {redact(text)!r}: unknown scheme {scheme!r}; expected {EXPECTED}")
    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    sweep = next((value for key, value in query if key == "sweep"), None)
    rest = urlencode([(key, value) for key, value in query if key != "sweep"])
    if scheme == "sqlite":
        path = text[len("sqlite:///") :].split("?", 1)[0] if text.lower().startswith("sqlite:///") else ""
        if not path:
            raise ValueError(
                f"store URL {redact(text)!r}: no file; expected sqlite:///PATH (e.g. sqlite:///runs/x.sqlite)"
            )
        return Address("sqlite", path, sweep, redact(text))
    target = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
    return Address("postgresql", target, sweep, redact(text))


def redact(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by ***."""
    url = re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def with_sweep(target: str, sweep: str) -> str:
    """A PostgreSQL URL that names one sweep, so that one string addresses the store (e.g. for another process)."""
    return f"{target}{'&' if '?' in target else '?'}{urlencode({'sweep': sweep})}"


def store_url(option: str | None, sweep_dir: Path) -> str:
    """The store a command uses: `option` (--store), else $FTSCALE_STORE, else `sqlite:///<sweep_dir>/results.sqlite`.

    ValueError if the chosen URL has an unknown scheme.
    """
    chosen = option or os.environ.get(ENV)
    if chosen:
        parse(chosen)
        return chosen
    return f"sqlite:///{(Path(sweep_dir) / FILE).resolve()}"
