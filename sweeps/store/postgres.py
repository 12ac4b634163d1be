"""The PostgreSQL backend: one database that any number of machines (and sweeps) share, with row locks."""

import os
import re
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from ftscale.errors import InputError
from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.schema import TABLES, Dialect, add_columns
from ftscale.sweeps.store.url import Address, with_sweep

T = TypeVar("T")

DIALECT = Dialect(
    placeholder="%s",
    now="CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
    lock=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
)
CONNECT_TIMEOUT_S = 5  # an unreachable server fails fast (the URL's own connect_timeout wins)
RETRIES = 5  # a transaction that lost a deadlock is rolled back by the server: run it again
SCHEMA_LOCK = 0x66747363  # advisory lock: concurrent first openers would race on CREATE TABLE IF NOT EXISTS


class PostgresBackend:
    """Stores in a PostgreSQL database; every row is keyed by its sweep's name. One connection per thread.

    A password given in the URL is kept in memory for this backend's connections and, once it let them in, put in
    this process's $PGPASSWORD: the points this process starts (threads, subprocesses, spawned runners, submitit
    tasks) connect with the URL less its password, and libpq finds the password there.
    """

    holds_one_sweep = False
    path = None

    def __init__(self, address: Address) -> None:
        self.target = address.target  # no password: safe to hand on
        self.shown = address.shown
        password = {"password": address.password} if address.password is not None else {}
        self.params = {"connect_timeout": CONNECT_TIMEOUT_S, **conninfo_to_dict(self.target), **password}
        self._local = threading.local()
        try:
            self.transact(_create_tables, write=True)
        except psycopg.Error as error:
            raise InputError(_explain(self.shown, error, address.password)) from None
        if address.password is not None:
            os.environ["PGPASSWORD"] = address.password

    def url(self, sweep: str) -> str:
        return with_sweep(self.target, sweep)

    def transact(self, op: Callable[[Tx], T], write: bool) -> T:
        # Row locks, not `write`, keep concurrent writers apart here.
        attempt = 1
        while True:
            conn, reused = self._connection()
            tx = Tx(conn, DIALECT)
            try:
                with conn.transaction():  # commits on exit, rolls back on an exception
                    return op(tx)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == RETRIES:
                    raise
                attempt += 1
            except psycopg.OperationalError:
                self._local.conn = None
                conn.close()
                # A kept connection that went stale while idle (server restarted) failed before any statement
                # ran, so nothing was done: run it again on a new one. Anything else may have committed.
                if not (reused and tx.statements == 0):
                    raise

    def _connection(self) -> tuple[psycopg.Connection, bool]:
        """This thread's connection, kept between transactions (connecting costs more than a claim); and if reused."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and self._local.pid == os.getpid():
            return conn, True
        # A connection inherited through fork belongs to the parent: dropped here, never closed.
        self._local.conn = psycopg.connect(**self.params, row_factory=dict_row)
        self._local.pid = os.getpid()
        return self._local.conn, False


def _create_tables(tx: Tx) -> None:
    tx.run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
    for statement in TABLES:
        tx.run(statement)
    sql = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?"
    add_columns(tx, lambda table: {row["column_name"] for row in tx.all(sql, (table,))})


def _explain(shown: str, error: psycopg.Error, password: str | None) -> str:
    """One line: which store could not be opened, the server's reason (never the password), and what was expected."""
    reason = re.sub(r"\s+", " ", str(error)).strip()
    if password:
        reason = reason.replace(password, "***")
    if isinstance(error, errors.InvalidPassword) or "password" in reason:
        expected = "a user and password the server accepts (in the URL, $PGPASSWORD, ~/.pgpass or a service file)"
    elif isinstance(error, errors.InvalidCatalogName) or "does not exist" in reason:
        expected = "an existing database (`createdb NAME` on the server)"
    elif isinstance(error, psycopg.OperationalError):
        expected = "a PostgreSQL server running and reachable at that host and port (see docs/clusters.md)"
    else:
        expected = "a URL of the form postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    return f"cannot open the results store {shown}: {reason}; expected {expected}"
