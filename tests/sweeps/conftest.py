"""Store fixtures: a PostgreSQL server for the session, and a fresh store's URL on each backend."""

import os
import uuid
from collections.abc import Iterator

import pytest

from ftscale.sweeps.store.url import with_sweep
from tests.postgres import INSTALL, postgres_server, server_bin


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server's database URL (with its password); CI must have the server installed."""
    if server_bin() is None:
        message = f"PostgreSQL server not installed: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """A new store's URL naming its sweep: a new SQLite file, or a new sweep in the session's PostgreSQL database."""
    sweep = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}?sweep={sweep}"
    return with_sweep(request.getfixturevalue("postgres_url"), sweep)
