"""What the Store asks of a database: transactions of dict rows over a DB-API connection, in the backend's dialect."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ftscale.sweeps.store.schema import Dialect

T = TypeVar("T")


@dataclass
class Tx:
    """One open transaction; statements are rendered in the backend's dialect."""

    conn: Any
    dialect: Dialect
    statements: int = 0  # how many ran: none means the server saw nothing of this transaction

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; return the number of rows it changed."""
        return self._execute(sql, params).rowcount

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.conn.cursor().executemany(self.dialect.render(sql), rows)
            self.statements += 1

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self._execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.conn.execute(self.dialect.render(sql), params)
        self.statements += 1
        return cursor


class Backend(Protocol):
    """A database holding stores: SQLite (one file, one sweep) or PostgreSQL (one database, any number of sweeps)."""

    shown: str  # where it is, for messages (no password)
    path: Path | None  # the SQLite file, None for PostgreSQL
    holds_one_sweep: bool

    def url(self, sweep: str) -> str:
        """A URL that opens this sweep's store from any process; without the password (libpq finds it, see
        `PostgresBackend`)."""
        ...

    def transact(self, op: Callable[[Tx], T], write: bool) -> T:
        """Run `op` in one transaction (a writing one takes its locks as the dialect says) and commit it."""
        ...
