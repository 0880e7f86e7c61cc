"""Ledgers of the schema before this one (3 and later): upgraded in place by adding what the
new schema adds, on either backend.

An upgrade only adds empty tables (schema.ADDED), so every existing row and entry stays as it
was and keeps verifying as before. It runs in the transaction that opens the ledger: the new
tables are created, the whole schema is then held to this version's pinned one (anything
altered in the old part is found here and nothing is committed), meta is moved to the new
version, and a `ledger.upgrade` entry says so; `audit verify` follows the version through
those entries. Schemas before 3 are rebuilt instead (migrate.py).
"""

from __future__ import annotations

from typing import Any

from compliance.gate import schema

UPGRADE = "ledger.upgrade"


def added_tables(version: int) -> list[str]:
    """The tables schemas after `version` added, in the order they are created."""
    return [
        name
        for step in range(version + 1, schema.SCHEMA_VERSION + 1)
        for name in schema.ADDED.get(step, ())
    ]


def entry_data(version: int) -> dict[str, Any]:
    from compliance import __version__

    return {
        "from": version,
        "to": schema.SCHEMA_VERSION,
        "tables": added_tables(version),
        "tool": __version__,
    }


def upgraded_version(seq: int, data: Any, version: int | None) -> int | str:
    """The version a ledger.upgrade entry moves a ledger of `version` to, or why it cannot
    (a problem for verify to name)."""
    import json

    try:
        fields = json.loads(data)
        start, end = fields["from"], fields["to"]
    except (ValueError, KeyError, TypeError):
        return "its data does not say which schema the ledger was upgraded from and to"
    if type(start) is not int or type(end) is not int or end <= start:
        return "its data does not say which schema the ledger was upgraded from and to"
    if start != version:
        return f"it upgrades from schema {start}, but the ledger was at schema {version}"
    return end
