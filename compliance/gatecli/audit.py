"""`compliance ledger init`, `compliance audit verify` and `compliance audit export`."""

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
    """Create the consent ledger."""


@ledger.command("init")
@ledger_option(creates=True)
@guarded
def ledger_init(ledger: Path | None) -> None:
    """Create a new, empty ledger (the only command that creates one). A ledger that exists
    already is left as it is. With COMPLIANCE_SUBJECT_KEY set, the new ledger stores subjects
    as keyed hashes, so that a person's identifier can be erased later."""
    from compliance.gate.ledger import Ledger, LedgerMissingError

    path = ledger_path(ledger)
    try:
        existing = Ledger(path, readonly=True)
    except LedgerMissingError:
        existing = None
    if existing is not None:
        entries = existing.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        existing.close()
        click.echo(
            f"ledger {path} exists already ({entries:,} entr{'y' if entries == 1 else 'ies'}); "
            "nothing changed"
        )
        return
    created = Ledger(path, create=True)
    mode = "keyed hashes" if created.subject_key else "as given"
    created.close()
    click.echo(f"created ledger {path} (subjects stored {mode})")


@click.group()
def audit() -> None:
    """Verify and export the audit trail."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@ledger_option()
@guarded
def audit_verify(as_json: bool, ledger: Path | None) -> None:
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
    entries = trail.export(db.conn, micros(start) if start else None, micros(end) if end else None)
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
