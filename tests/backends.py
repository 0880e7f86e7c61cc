"""What tests do to a ledger from outside the gate, on either backend: run SQL on it (as an
attacker with write access to the file or the database would), or break its connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from compliance.gate.ledger import is_url
from compliance.gate.ledger.dialect import placeholders


def sql(where: Path | str, statement: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement (written with `?`) on the ledger and commit; the rows it returns."""
    if is_url(where):
        import psycopg

        with psycopg.connect(str(where), autocommit=True) as conn:
            cur = conn.execute(placeholders(statement), args)
            return [tuple(row) for row in cur.fetchall()] if cur.description else []
    conn = sqlite3.connect(where, isolation_level=None)
    try:
        return [tuple(row) for row in conn.execute(statement, args).fetchall()]
    finally:
        conn.close()


def script(where: Path | str, statements: str) -> None:
    """Several statements separated by ';' (none holding one inside a literal)."""
    for statement in statements.split(";"):
        if statement.strip():
            sql(where, statement)


def is_pg(where: Path | str) -> bool:
    return is_url(where)


class _Rows(list):  # type: ignore[type-arg]
    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class _Reader:
    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def execute(self, statement: str, args: tuple[Any, ...] = ()) -> _Rows:
        with self.ledger.reading() as conn:
            return _Rows(tuple(row) for row in conn.execute(statement, args))


def db(gate_or_ledger: Any) -> _Reader:
    """Reads through the gate's own ledger, on either backend: db(gate).execute(sql, args)
    with `?` parameters, then .fetchone() or .fetchall()."""
    return _Reader(getattr(gate_or_ledger, "_db", gate_or_ledger))


def where(gate_or_ledger: Any) -> Path | str:
    """The ledger's file or URL (password included), for sql()."""
    ledger = getattr(gate_or_ledger, "_db", gate_or_ledger)
    return getattr(ledger, "url", None) or ledger.path
