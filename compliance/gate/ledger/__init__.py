"""The consent ledger: what a decision reads and writes, and the audit trail that vouches for it.

records.py, lists.py and inbound.py say what the ledger records; sqlite.py stores it in one
SQLite file shared by every process on a host, pg.py in a PostgreSQL database shared by many
hosts. `open_ledger` picks the backend from what it is given: a postgresql:// URL, or a path.
"""

import os
from typing import Any

from compliance.errors import LedgerConfigError, LedgerError, LedgerMissingError
from compliance.gate.ledger.common import (
    BUSY_TIMEOUT_S,
    DEFAULT_LEDGER,
    ERASED,
    FAMILIES,
    TEXT,
    default_path,
    family,
    from_us,
    micros,
)
from compliance.gate.ledger.pg import check_where, is_url, shown
from compliance.gate.ledger.sqlite import Ledger


def open_ledger(where: "str | os.PathLike[str]", **options: Any) -> Any:
    """The ledger at `where`: a PostgreSQL database for a postgresql:// (or postgres://) URL,
    else the SQLite file at that path. `options` are the backends' own (durable,
    busy_timeout, readonly, create, clock)."""
    check_where(where)  # a mistyped URL is never taken for a file to create
    if is_url(where):
        from compliance.gate.ledger.pg import PostgresLedger

        return PostgresLedger(str(where), **options)
    return Ledger(where, **options)


def describe(where: "str | os.PathLike[str]") -> str:
    """How messages name a ledger: a URL without its password, or the path."""
    return shown(str(where)) if is_url(where) else str(where)


__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_LEDGER",
    "ERASED",
    "FAMILIES",
    "TEXT",
    "Ledger",
    "LedgerConfigError",
    "LedgerError",
    "LedgerMissingError",
    "default_path",
    "describe",
    "is_url",
    "open_ledger",
    "family",
    "from_us",
    "micros",
]
