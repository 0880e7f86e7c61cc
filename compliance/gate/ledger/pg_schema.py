"""The ledger's schema on PostgreSQL, pinned as on SQLite (schema.py): the tables the records
use, as the dialect writes schema.py's, and the audit trail in chains (docs/ledger-postgres-
design.md): each entry has a global `seq`, its `chain` and its gap-free `pos` in the chain; each
chain has a head row that a writer locks; checkpoints hold every chain's head.

`problems()` reads PostgreSQL's catalog and names whatever differs from what `create()` makes:
a table, column, index or constraint added, changed or missing, and any trigger, rule, view,
row-level security policy or inheritance, none of which the gate makes and any of which could
change what a decision reads (a trigger that deletes every new STOP).
"""

from __future__ import annotations

import re
from typing import Any

from compliance.chainhash import GENESIS
from compliance.gate import schema
from compliance.gate.ledger.chains import CHAINS
from compliance.gate.ledger.dialect import POSTGRES

# schema.py's tables but its single-chain audit_log, which PostgreSQL keeps in chains
DATA_TABLES = {name: sql for name, sql in schema.TABLES.items() if name != "audit_log"}
CHAIN_TABLES = {
    "audit_log": "CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, chain BIGINT NOT NULL, "
    "pos BIGINT NOT NULL, at TEXT NOT NULL, at_us BIGINT NOT NULL, kind TEXT NOT NULL, "
    "subject TEXT, outcome TEXT, purpose TEXT, channel TEXT, send_us BIGINT, "
    "data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, mac TEXT, "
    "UNIQUE (chain, pos))",
    # the newest entry of each chain: the row a writer locks (FOR UPDATE) to append to it
    "chain_heads": "CREATE TABLE chain_heads (chain BIGINT PRIMARY KEY, pos BIGINT NOT NULL, "
    "hash TEXT NOT NULL)",
    # every chain's head at an instant, chained and keyed like entries
    "checkpoints": "CREATE TABLE checkpoints (id BIGINT PRIMARY KEY, at TEXT NOT NULL, "
    "at_us BIGINT NOT NULL, heads TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
    "mac TEXT)",
}
# ids come from sequences: writers on different chains commit at once
SEQUENCES = ("audit_seq", *(f"{table}_ids" for table in schema.COVERED), "checkpoint_ids")


def statements(only: list[str] | None = None) -> list[str]:
    """Every statement create() runs, in order; `only`: the tables an upgrade adds, with
    their id sequences."""
    if only is not None:
        return [POSTGRES.ddl(DATA_TABLES[name]) for name in only] + [
            f"CREATE SEQUENCE {name}_ids AS BIGINT" for name in only if name in schema.COVERED
        ]
    tables = [POSTGRES.ddl(sql) for sql in DATA_TABLES.values()]
    indexes = [POSTGRES.ddl(sql) for sql in schema.INDEXES.values()]
    heads = [
        f"INSERT INTO chain_heads (chain, pos, hash) SELECT g, 0, '{GENESIS}' FROM "
        f"generate_series(0, {CHAINS - 1}) AS g"
    ]
    sequences = [f"CREATE SEQUENCE {name} AS BIGINT" for name in SEQUENCES]
    return [*tables, *CHAIN_TABLES.values(), *indexes, *sequences, *heads]


def create(conn: Any) -> None:
    """Create the schema in the connection's current transaction (psycopg)."""
    for statement in statements():
        conn.execute(statement)


def _table_parts() -> list[tuple[str, list[str]]]:
    """Each table create() makes, with the comma-separated parts of its definition."""
    found = []
    for sql in [*DATA_TABLES.values(), *CHAIN_TABLES.values()]:
        ddl = POSTGRES.ddl(sql)
        name = re.match(r"CREATE TABLE (\w+) \(", ddl).group(1)  # type: ignore[union-attr]
        found.append((name, _split(ddl[ddl.index("(") + 1 : ddl.rindex(")")])))
    return found


# what create() makes, as the catalog describes it: tables with their columns (name, type,
# nullable), indexes, sequences
def expected(version: int = schema.SCHEMA_VERSION) -> dict[str, Any]:
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    skip = schema.later(version)
    for name, parts in _table_parts():
        if name in skip:
            continue
        columns = []
        for part in parts:
            words = part.split()
            if words[0].upper() in ("PRIMARY", "UNIQUE"):
                continue
            column = words[0].strip('"')
            kind = {"BIGINT": "bigint", "TEXT": "text", "INTEGER": "integer"}[words[1]]
            nullable = "NOT NULL" not in part and "PRIMARY KEY" not in part
            columns.append((column, kind, nullable))
        tables[name] = columns
    return {
        "tables": tables,
        "indexes": sorted(schema.INDEXES),
        "sequences": sorted(name for name in SEQUENCES if name.removesuffix("_ids") not in skip),
    }


def _relations(conn: Any, kinds: str) -> set[str]:
    """Names of the current schema's relations of these pg_class kinds ('rpf': tables)."""
    return {
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = ANY(%s)",
            (list(kinds),),
        )
    }


def _split(body: str) -> list[str]:
    """A table body's comma-separated parts, commas inside parentheses kept."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    parts.append(current.strip())
    return parts


def problems(conn: Any, version: int = schema.SCHEMA_VERSION) -> list[str]:
    """What differs from the pinned schema (of `version`, 3 or later) in the connection's
    current schema (public): empty when it is the one create() makes."""
    want = expected(version)
    out: list[str] = []
    found_tables = _relations(conn, "rpf")
    for name in sorted(found_tables - set(want["tables"])):
        out.append(f"unexpected table {name!r}")
    for name in sorted(set(want["tables"]) - found_tables):
        out.append(f"table {name!r} is missing")
    for name in sorted(found_tables & set(want["tables"])):
        columns = [
            (r[0], r[1], r[2] == "YES")
            for r in conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s "
                "ORDER BY ordinal_position",
                (name,),
            )
        ]
        if columns != want["tables"][name]:
            out.append(f"table {name!r} differs from the one this version creates")
    out += _column_details(conn, set(want["tables"]) & found_tables)
    out += [f"unexpected view {name!r}" for name in sorted(_relations(conn, "vm"))]
    indexes = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT i.relname, t.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 "
            "FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
        )
    }
    for name in sorted(set(indexes) - set(want["indexes"])):
        out.append(f"unexpected index {name!r} on table {indexes[name]}")
    for name in sorted(set(want["indexes"]) - set(indexes)):
        out.append(f"index {name!r} is missing")
    for name, definition in conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = "
        "x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = "
        "current_schema() AND i.relname = ANY(%s)",
        (list(want["indexes"]),),
    ):
        if _index_text(definition) != POSTGRES.ddl(schema.INDEXES[name]):
            out.append(f"index {name!r} differs from the one this version creates")
    out += _constraints(conn, set(want["tables"]))
    sequences = {
        r[0]
        for r in conn.execute(
            "SELECT sequence_name FROM information_schema.sequences "
            "WHERE sequence_schema = current_schema()"
        )
    }
    for name in sorted(sequences - set(want["sequences"])):
        out.append(f"unexpected sequence {name!r}")
    for name in sorted(set(want["sequences"]) - sequences):
        out.append(f"sequence {name!r} is missing")
    for name, kind, step, low, cycles in conn.execute(
        "SELECT sequencename, data_type::text, increment_by, min_value, cycle FROM pg_sequences "
        "WHERE schemaname = current_schema() ORDER BY 1"
    ):
        if name in want["sequences"] and (kind, step, low, cycles) != ("bigint", 1, 1, False):
            out.append(f"sequence {name!r} differs from the one this version creates")
    out += _other_objects(conn)
    for name, table in conn.execute(
        "SELECT g.tgname, c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
        "AND NOT g.tgisinternal ORDER BY 1"
    ):
        out.append(f"unexpected trigger {name!r} on table {table}")
    for name, table in conn.execute(
        "SELECT rulename, tablename FROM pg_rules WHERE schemaname = current_schema() ORDER BY 1"
    ):
        out.append(f"unexpected rule {name!r} on table {table}")
    for name, table in conn.execute(
        "SELECT policyname, tablename FROM pg_policies WHERE schemaname = current_schema() "
        "ORDER BY 1"
    ):
        out.append(f"unexpected row-level security policy {name!r} on table {table}")
    for (table,) in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND (c.relrowsecurity OR c.relhassubclass) "
        "ORDER BY 1"
    ):
        out.append(f"table {table!r} has row-level security or child tables")
    return out


def _constraints(conn: Any, tables: set[str]) -> list[str]:
    """Primary keys and unique constraints as create() makes them, and no others (a CHECK
    that refuses every new STOP would change what a decision reads)."""
    want: set[tuple[str, str, tuple[str, ...]]] = set()
    for table, parts in _table_parts():
        if table not in tables:
            continue
        for part in parts:
            words = part.split()
            if words[0].upper() in ("PRIMARY", "UNIQUE"):
                cols = tuple(
                    c.strip().strip('"') for c in part[part.index("(") + 1 : -1].split(",")
                )
                want.add((table, "p" if words[0].upper() == "PRIMARY" else "u", cols))
            elif "PRIMARY KEY" in part:
                want.add((table, "p", (words[0].strip('"'),)))
            elif " UNIQUE" in part:
                want.add((table, "u", (words[0].strip('"'),)))
    found: set[tuple[str, str, tuple[str, ...]]] = set()
    names: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for conname, table, kind, cols in conn.execute(
        "SELECT k.conname, c.relname, k.contype, ARRAY(SELECT a.attname FROM unnest(k.conkey) "
        "WITH ORDINALITY AS u(n, o) JOIN pg_attribute a ON a.attrelid = k.conrelid AND "
        "a.attnum = u.n ORDER BY u.o) FROM pg_constraint k JOIN pg_class c ON c.oid = "
        "k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
        "current_schema() AND k.contype IN ('p', 'u', 'c', 'f', 'x', 't')"
    ):
        key = (table, kind, tuple(cols))
        found.add(key)
        names[key] = conname
    out = [
        f"unexpected constraint {names[key]!r} on table {key[0]}" for key in sorted(found - want)
    ]
    out += [
        f"{'primary key' if kind == 'p' else 'unique constraint'} on {table} "
        f"({', '.join(cols)}) is missing"
        for table, kind, cols in sorted(want - found)
    ]
    return out


def _index_text(definition: str) -> str:
    """pg_get_indexdef() as schema.INDEXES writes it: no schema before the table, no USING
    btree."""
    text = re.sub(r" ON (?:\w+|\"[^\"]+\")\.", " ON ", definition)
    return text.replace(" USING btree ", " ")


def _column_details(conn: Any, tables: set[str]) -> list[str]:
    """What a column's type and nullability do not say, and could change what is stored: a
    domain (whose CHECK could refuse every new STOP), a default, a collation, a generated or
    identity column; and tables that are not logged (a crash empties them)."""
    out = []
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ANY(%s) AND (domain_name IS NOT NULL OR "
        "column_default IS NOT NULL OR collation_name IS NOT NULL OR is_generated <> 'NEVER' "
        "OR is_identity <> 'NO') ORDER BY 1, 2",
        (sorted(tables),),
    ):
        out.append(
            f"column {column!r} of table {table} has a domain, default, collation or generation "
            "this version does not create"
        )
    for (table,) in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
        "n.nspname = current_schema() AND c.relname = ANY(%s) AND c.relpersistence <> 'p' "
        "ORDER BY 1",
        (sorted(tables),),
    ):
        out.append(f"table {table!r} is not logged (a crash would empty it)")
    return out


def _other_objects(conn: Any) -> list[str]:
    """Functions, operators, types, collations and conversions in the ledger's schema, none of
    which the gate creates (a nextval() or an operator there could change what a statement
    does), and a search_path that puts a schema before pg_catalog."""
    out = []
    queries = (
        ("function", "SELECT proname FROM pg_proc WHERE pronamespace = {ns}"),
        ("operator", "SELECT oprname FROM pg_operator WHERE oprnamespace = {ns}"),
        (
            "type",
            "SELECT t.typname FROM pg_type t WHERE t.typnamespace = {ns} AND t.typelem = 0 AND "
            "NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c')",
        ),
        ("collation", "SELECT collname FROM pg_collation WHERE collnamespace = {ns}"),
        ("conversion", "SELECT conname FROM pg_conversion WHERE connamespace = {ns}"),
    )
    ns = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    for kind, sql in queries:
        for (name,) in conn.execute(sql.format(ns=ns) + " ORDER BY 1"):
            out.append(f"unexpected {kind} {name!r}")
    schemas = [
        name
        for name in conn.execute("SELECT current_schemas(true)").fetchone()[0]
        if not name.startswith("pg_temp")  # searched for relations only, never functions
    ]
    if schemas and schemas[0] != "pg_catalog":
        out.append(
            f"the search_path puts {schemas[0]!r} before pg_catalog (its functions and "
            "operators would be taken for PostgreSQL's own)"
        )
    return out
