"""The privileges a PostgreSQL ledger's roles need, table by table, as SQL for its owner to run
(`compliance ledger grants`).

Three roles: the owner creates the ledger (`compliance ledger init`) and owns its tables, so it
alone could alter them; the application (the gate's workers) appends and reads; the reader
(an auditor, a replica's verify) reads. The application may never update or delete an entry,
a checkpoint or a record a decision reads, so a stolen application password can add entries
(each one attributable, in the chain) but not rewrite or remove one. What it may change, and
why:

- chain_heads: UPDATE of (pos, hash), the newest entry of each chain, which every append moves
  (and locks, SELECT ... FOR UPDATE, which needs UPDATE). verify holds each head to its chain.
- recent_sends: DELETE, the hourly pruning of sends older than frequency caps reach. verify
  holds the table to the allowed decisions of the last days.
- subjects: DELETE, erasure (`consent erase`) of a person's raw identifier in a ledger that
  stores keyed hashes. The trail keeps only the hash.
- sequences: USAGE (the ids and seqs of new rows) and SELECT (verify reads how far each
  has gone); never UPDATE, which would let it set one back.

The service's API keys (api_keys, api_key_revocations) it may only read: the owner makes and
revokes them. Whatever the roles held before (default privileges a DBA set, earlier grants,
CREATE on the schema, PUBLIC's use of the sequences) is revoked first, so that the statements
leave these privileges; what a role holds as a member of another role cannot be revoked here,
so the application and reader roles must be members of none that has rights on the ledger.
"""

from __future__ import annotations

import re

from compliance.gate import schema
from compliance.gate.ledger import pg_schema

# the service's API keys are made and revoked by the owner (`compliance serve keys ...` with
# the owner's URL): the application only reads them, so a stolen application password cannot
# mint a key
OWNER_WRITES = ("api_keys", "api_key_revocations")
APPEND_ONLY = ("audit_log", "checkpoints", *(t for t in schema.COVERED if t not in OWNER_WRITES))
_IDENT = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def quote(role: str) -> str:
    """A role name as SQL: bare when PostgreSQL keeps it as written, else double-quoted."""
    if not role or "\x00" in role:
        raise ValueError("a role name must not be empty or hold a NUL character")
    if _IDENT.fullmatch(role):
        return role
    return '"' + role.replace('"', '""') + '"'


def statements(app: str, reader: str | None = None, in_schema: str = "public") -> list[str]:
    """What the owner runs once after `compliance ledger init`, in the ledger's database
    (`in_schema`: the schema the ledger is in, public unless its URL sets search_path)."""
    a, s = quote(app), quote(in_schema)
    tables = sorted(set(pg_schema.DATA_TABLES) | set(pg_schema.CHAIN_TABLES))
    sequences = ", ".join(pg_schema.SEQUENCES)
    out = [] if in_schema == "public" else [f"SET search_path = {s};"]
    out += [
        "-- nobody but the owner creates objects in the ledger's schema (a trigger or a table",
        "-- of another's would change what decisions read: the gate refuses such a ledger)",
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC;",
        f"REVOKE ALL ON {', '.join(tables)} FROM PUBLIC;",
        f"REVOKE ALL ON SEQUENCE {sequences} FROM PUBLIC;",
        "-- what the role may hold already (default privileges, earlier grants) is taken away;",
        "-- privileges it holds through another role it is a member of are not: give it none",
        f"REVOKE CREATE ON SCHEMA {s} FROM {a};",
        f"REVOKE ALL ON {', '.join(tables)} FROM {a};",
        f"REVOKE ALL ON SEQUENCE {sequences} FROM {a};",
        f"GRANT USAGE ON SCHEMA {s} TO {a};",
        "-- the trail, its checkpoints, every record a decision reads and the webhook message",
        "-- ids the service recorded: appended, never changed",
        f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO {a};",
        "-- the service's API keys: read (the owner makes and revokes them)",
        f"GRANT SELECT ON {', '.join(OWNER_WRITES)} TO {a};",
        "-- each chain's newest entry: moved (and locked) by every append",
        f"GRANT SELECT, UPDATE (pos, hash) ON chain_heads TO {a};",
        "-- allowed sends of the last days (frequency caps): pruned hourly",
        f"GRANT SELECT, INSERT, DELETE ON recent_sends TO {a};",
        "-- raw identifiers of a ledger that stores keyed hashes: deleted on erasure",
        f"GRANT SELECT, INSERT, DELETE ON subjects TO {a};",
        f"GRANT SELECT ON meta TO {a};",
        f"GRANT USAGE, SELECT ON SEQUENCE {sequences} TO {a};",
    ]
    if reader:
        r = quote(reader)
        out += [
            "-- audit verify, audit export and ledger status: reads only",
            f"REVOKE CREATE ON SCHEMA {s} FROM {r};",
            f"REVOKE ALL ON {', '.join(tables)} FROM {r};",
            f"REVOKE ALL ON SEQUENCE {sequences} FROM {r};",
            f"GRANT USAGE ON SCHEMA {s} TO {r};",
            f"GRANT SELECT ON {', '.join(tables)} TO {r};",
            f"GRANT SELECT ON SEQUENCE {sequences} TO {r};",
        ]
    return out
