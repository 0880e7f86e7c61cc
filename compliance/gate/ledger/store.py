"""What the ledger's records (records.py, lists.py, inbound.py) ask of the storage under them.

A backend (sqlite.py, pg.py) provides these, and the records run on any backend that does:
they never name the database they run on. Statements are written with `?` parameters in SQL
both databases take; the few that differ come from `dialect` (dialect.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from compliance.gate.ledger.dialect import Dialect


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The database connection of the current transaction (or of reads outside one)."""

    def execute(self, sql: str, args: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, rows: Any, /) -> Any: ...


class Store(Protocol):
    """The storage a ledger's records are kept in.

    Writes happen inside `write()`: one transaction that holds the lock the backend uses to
    order writers, reads the gate's clock once it holds it (`now`, `now_us`), and commits the
    audit entries `audit()` appended with the rows `_insert()` wrote, or none of them. Reads
    outside a transaction take `reading()`."""

    path: Path | str
    dialect: Dialect
    conn: Connection
    now: dt.datetime
    now_us: int
    subject_key: bytes | None
    _lock: threading.RLock
    # what a batch of decisions read at once (batch.py), and what stays true while no other
    # connection commits (pauses in force, which lists have entries)
    _batch: dict[str, Any] | None
    _known: dict[str, Any]
    _fresh: dict[str, list[tuple[Any, ...]]]

    def write(
        self, *, check: bool = True, subjects: Iterable[str | None] | None = None
    ) -> AbstractContextManager[Connection]: ...
    def reading(self) -> AbstractContextManager[Connection]: ...
    def next_seq(self) -> int: ...
    def audit(
        self,
        *,
        kind: str,
        subject: str | None,
        data: dict[str, Any] | None,
        outcome: str | None = None,
        purpose: str | None = None,
        channel: str | None = None,
        send_us: int | None = None,
        text: str | None = None,
    ) -> int: ...
    def _insert(
        self, table: str, rows: list[tuple[Any, ...]], seq: int
    ) -> list[tuple[Any, ...]]: ...
    def _forget(self) -> None: ...
    def _params_per_query(self) -> int: ...
