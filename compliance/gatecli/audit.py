"""`compliance ledger init|upgrade|status|grants|migrate`, `compliance audit verify` and
`compliance audit export`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from compliance.gatecli.common import (
    EXIT_NO,
    EXIT_OK,
    DataError,
    LedgerTarget,
    guarded,
    ledger_option,
    ledger_path,
    open_ledger,
    output,
    safe_cell,
    when,
)


@click.group()
def ledger() -> None:
    """Create the consent ledger and see its state."""


@ledger.command("init")
@ledger_option(creates=True)
@guarded
def ledger_init(ledger: Path | str | None) -> None:
    """Create a new, empty ledger (the only command that creates one): a SQLite file, or the
    schema in an empty PostgreSQL database given by its URL. A ledger that exists already is
    left as it is. With COMPLIANCE_SUBJECT_KEY set, the new ledger stores subjects as keyed
    hashes, so that a person's identifier can be erased later."""
    from compliance.gate.ledger import LedgerMissingError, describe, open_ledger

    where = ledger_path(ledger)
    try:
        existing = open_ledger(where, readonly=True)
    except LedgerMissingError:
        existing = None
    if existing is not None:
        entries = existing.entry_count()
        existing.close()
        click.echo(
            f"ledger {describe(where)} exists already ({entries:,} "
            f"entr{'y' if entries == 1 else 'ies'}); nothing changed"
        )
        return
    created = open_ledger(where, create=True)
    mode = "keyed hashes" if created.subject_key else "as given"
    created.close()
    click.echo(f"created ledger {describe(where)} (subjects stored {mode})")


@ledger.command("upgrade")
@ledger_option()
@guarded
def ledger_upgrade(ledger: Path | str | None) -> None:
    """Bring a ledger of an earlier schema to this version's (any write does it too): the
    tables the new schema adds, and a ledger.upgrade entry. On PostgreSQL, run it as the
    ledger's owner, then `compliance ledger grants` again for the new tables."""
    from compliance.gate.ledger import describe, open_ledger
    from compliance.gate.schema import SCHEMA_VERSION

    where = ledger_path(ledger)
    before = open_ledger(where, readonly=True)
    version = before.version
    before.close()
    opened = open_ledger(where)  # opening for writing upgrades
    opened.close()
    if version == SCHEMA_VERSION:
        click.echo(f"ledger {describe(where)} is at schema {SCHEMA_VERSION} already")
    else:
        click.echo(f"upgraded ledger {describe(where)} from schema {version} to {SCHEMA_VERSION}")


@ledger.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@ledger_option()
@guarded
def ledger_status(as_json: bool, ledger: Path | str | None) -> None:
    """What the ledger holds: its backend, schema version, how subjects are stored, entries
    by kind, its chains and their last checkpoint. Reads only (a standby works); `audit
    verify` checks it."""
    db = open_ledger(ledger, readonly=True)
    try:
        found = db.status()
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"ledger {found['ledger']} ({found['backend']})")
    click.echo(f"  schema version {found['schema_version']}, subjects stored {found['subjects']}")
    click.echo(
        f"  {found['entries']:,} entr{'y' if found['entries'] == 1 else 'ies'}"
        + (f", the newest at {found['newest']}" if found["newest"] else "")
    )
    for kind, count in found["kinds"].items():
        click.echo(f"    {kind}: {count:,}")
    click.echo(f"  {found['chains']} chain{'s' if found['chains'] != 1 else ''}")
    last = found.get("last_checkpoint")
    if last:
        click.echo(
            f"  {found['checkpoints']:,} checkpoint{'s' if found['checkpoints'] != 1 else ''}, "
            f"the last ({last['id']}) at {last['at']} "
            f"(hash {last['hash']}): keep this hash elsewhere to prove later that no chain was "
            "cut after it"
        )
    elif found["chains"] > 1:
        click.echo("  no checkpoint yet")


@ledger.command("grants")
@click.option("--app", "app", required=True, help="The role the gate's workers log in as.")
@click.option("--reader", help="A role that only reads (audit verify, export, status).")
@click.option(
    "--schema",
    "in_schema",
    default="public",
    show_default=True,
    help="The schema the ledger is in (its URL's search_path).",
)
@guarded
def ledger_grants(app: str, reader: str | None, in_schema: str) -> None:
    """Print the SQL that gives a PostgreSQL ledger's roles what they need, table by table,
    for the ledger's owner (the role that ran `ledger init`) to run once in its database:
    psql "$OWNER_URL" -v ON_ERROR_STOP=1 -f grants.sql

    \b
    The application role may append to the audit trail, its checkpoints and every record a
    decision reads, and read them, but never update or delete them. It may update each
    chain's head (every append moves it), delete old recent_sends (pruning) and delete
    subjects (erasure). No role but the owner may create objects in the schema."""
    from compliance.gate.ledger.pg_grants import statements

    for line in statements(app, reader, in_schema):
        click.echo(line)


@ledger.command("migrate")
@click.argument("source", type=LedgerTarget())
@click.argument("target", type=LedgerTarget())
@click.option("--json", "as_json", is_flag=True, help="Print what was copied as JSON.")
@guarded
def ledger_migrate(source: Path | str, target: Path | str, as_json: bool) -> None:
    """Copy the ledger SOURCE to TARGET, from a SQLite file to a PostgreSQL database or back
    (a path, or a postgresql:// URL).

    \b
    TARGET must hold nothing: a path where there is no file, or a database with no tables
    (CREATE DATABASE ledger). SOURCE must verify, and must not be written to meanwhile: stop
    the gate's workers first. Every record and every entry is copied with its seq, time and
    content, chained the target's way; a last entry, ledger.copied, names the source and its
    head. Both sides are verified; with COMPLIANCE_AUDIT_KEY (needed for a signed ledger)
    the copy is signed too. SOURCE is never changed."""
    from compliance.gate.ledger.transfer import migrate

    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    done = migrate(source, target, say=say)
    if as_json:
        click.echo(json.dumps(done.to_dict(), indent=2))
        return
    rows = sum(done.rows.values())
    click.echo(
        f"copied {done.entries:,} entries and {rows:,} records from {done.source} to "
        f"{done.target}"
        + (
            f" ({done.gaps:,} ledger.gap entries stand for seqs the source skipped)"
            if done.gaps
            else ""
        )
    )
    click.echo(f"  source: {done.source_verdict}".replace("\n", "\n  "))
    click.echo(f"  copy: {done.target_verdict}".replace("\n", "\n  "))
    click.echo(
        f"  point the gate at the copy: --ledger {done.target} (or COMPLIANCE_DB); keep the "
        "source as it is, as the evidence the copy was made from"
    )


@click.group()
def audit() -> None:
    """Verify and export the audit trail."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@ledger_option()
@guarded
def audit_verify(as_json: bool, ledger: Path | str | None) -> None:
    """Check the whole ledger: the hash chain (and the HMACs with COMPLIANCE_AUDIT_KEY), every
    row decisions read against the entry that wrote it, and the schema. Exit 0 when intact,
    1 naming the first problem. Opens the ledger read-only: an auditor's copy or a read-only
    mount works."""
    verdict = open_ledger(ledger, readonly=True).verify()
    click.echo(json.dumps(verdict.to_dict()) if as_json else str(verdict))
    sys.exit(EXIT_OK if verdict.ok else EXIT_NO)


@audit.command("export")
@click.option("--since", help="Entries written at or after this time (ISO 8601 with offset).")
@click.option("--until", help="Entries written before this time.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("-o", "--output", "path", type=click.Path(path_type=Path, dir_okay=False))
@ledger_option()
@guarded
def audit_export(
    since: str | None, until: str | None, fmt: str, path: Path | None, ledger: Path | None
) -> None:
    """Stream the audit trail, oldest first, for an auditor. In CSV, a cell that a spreadsheet
    would run as a formula starts with an apostrophe."""
    from compliance.gate import audit as trail
    from compliance.gate.ledger import micros

    start = when(since, "--since")
    end = when(until, "--until")
    if start and end and end <= start:
        raise DataError("--until must be later than --since")
    db = open_ledger(ledger, readonly=True)
    entries = db.export(micros(start) if start else None, micros(end) if end else None)
    count = 0
    with output(path) as handle:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer:
            writer.writerow(trail.EXPORTED)
        for entry in entries:
            if writer:
                writer.writerow(
                    [
                        safe_cell(
                            json.dumps(entry[name], ensure_ascii=False)
                            if name == "data"
                            else entry[name]
                        )
                        for name in trail.EXPORTED
                    ]
                )
            else:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
            if path and count % 100_000 == 0 and sys.stderr.isatty():
                click.echo(f"\r{count:,} entries", err=True, nl=False)
    if path:
        click.echo(f"exported {count:,} entries to {path}", err=True)
