"""The few statements the ledger's records read or write differently on each database.

Everything else the records run is SQL both SQLite and PostgreSQL take as written, with `?`
for each parameter (the PostgreSQL backend's connection turns them into `%s`). What differs:

* the newest consent event per channel and scope: SQLite takes bare columns from the row that
  reaches MAX() in a GROUP BY; PostgreSQL has DISTINCT ON for the same question;
* the tables' types and the column named `by`, a reserved word in PostgreSQL.

Both answer alike on the same rows: tests/gate/test_dialect.py runs each on a real server.
"""

from __future__ import annotations

import re

# an opt-out (revoke) ranks above anything else recorded for the same instant
RANK_SQLITE = "at_us * 2 + (action = 'revoke')"
RANK_PORTABLE = "at_us * 2 + CASE WHEN action = 'revoke' THEN 1 ELSE 0 END"


class Dialect:
    name = "sqlite"

    def newest(self, where: str, *, by_subject: bool = False) -> str:
        """The newest event per (channel, scope) of the rows `where` picks (a WHERE clause
        with `?` parameters), as (channel, scope, action, rank, source, id, at_us), with the
        subject first when `by_subject`. Of equal rank, the later-recorded (higher id)."""
        subject = "subject, " if by_subject else ""
        return (
            f"SELECT {subject}channel, scope, action, MAX({RANK_SQLITE}), source, id, at_us "
            f"FROM consent_events WHERE {where} GROUP BY {subject}channel, scope"
        )

    def remember_subject(self) -> str:
        return "INSERT INTO subjects VALUES (?, ?) ON CONFLICT (sid) DO NOTHING"

    def ddl(self, statement: str) -> str:
        return statement


class PostgresDialect(Dialect):
    name = "postgresql"

    def newest(self, where: str, *, by_subject: bool = False) -> str:
        subject = "subject, " if by_subject else ""
        return (
            f"SELECT DISTINCT ON ({subject}channel, scope) {subject}channel, scope, action, "
            f"{RANK_PORTABLE} AS rank, source, id, at_us FROM consent_events WHERE {where} "
            f"ORDER BY {subject}channel, scope, rank DESC, id DESC"
        )

    def ddl(self, statement: str) -> str:
        """A table or index of schema.py as PostgreSQL takes it: 64-bit integers, no
        WITHOUT ROWID, the column `by` quoted."""
        out = re.sub(r"\bINTEGER\b", "BIGINT", statement)
        out = out.replace(" WITHOUT ROWID", "")
        return re.sub(r"(?<=[(,] )by(?= TEXT)", '"by"', out)


SQLITE = Dialect()
POSTGRES = PostgresDialect()


def placeholders(sql: str) -> str:
    """`?` parameters as psycopg's `%s` (a literal % doubled). The ledger's statements hold
    no `?` or `%` inside string literals."""
    return sql.replace("%", "%%").replace("?", "%s")
