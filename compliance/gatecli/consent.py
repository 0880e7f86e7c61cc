"""`compliance consent ...`: grants, revocations, replies, reviews, imports and erasure."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from compliance.gatecli.common import (
    DataError,
    guarded,
    ledger_option,
    now,
    open_gate,
    open_ledger,
    read_text,
    source_options,
    when,
)


@click.group()
def consent() -> None:
    """Record and show consent in the ledger."""


@consent.command("grant")
@click.option("--subject", required=True, help="Phone number (+E.164) or email address.")
@click.option("--channel", required=True)
@click.option("--scope", required=True, help="A consent_scope id of the repo.")
@click.option("--source", required=True, help="Where consent was given, e.g. web-checkout.")
@click.option("--at", "at_text", help="When (ISO 8601 with offset; default now).")
@click.option("--evidence", help='JSON object of evidence, e.g. \'{"ip": "198.51.100.7"}\'.')
@source_options
@ledger_option()
@guarded
def consent_grant(
    subject: str,
    channel: str,
    scope: str,
    source: str,
    at_text: str | None,
    evidence: str | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Record that SUBJECT consented to SCOPE on CHANNEL."""
    extra = _json_object(evidence) if evidence else None
    at = when(at_text)
    gate = open_gate(repo, bundle, ledger)
    seq = gate.ledger.grant(
        subject=subject,
        channel=channel,
        scope=scope,
        source=source,
        at=at or now(gate),
        evidence=extra,
    )
    click.echo(f"granted: audit entry {seq}")


@consent.command("revoke")
@click.option("--subject", required=True)
@click.option("--channel", required=True)
@click.option("--scope", help="One scope (default: every scope on the channel).")
@click.option("--source", required=True)
@click.option("--at", "at_text", help="When (ISO 8601 with offset; default now).")
@source_options
@ledger_option()
@guarded
def consent_revoke(
    subject: str,
    channel: str,
    scope: str | None,
    source: str,
    at_text: str | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Record that SUBJECT withdrew consent (one scope, or all on the channel; on SMS, MMS
    too)."""
    at = when(at_text)
    gate = open_gate(repo, bundle, ledger)
    seq = gate.ledger.revoke(
        subject=subject, channel=channel, scope=scope, source=source, at=at or now(gate)
    )
    click.echo(f"revoked: audit entry {seq}")


@consent.command("inbound")
@click.option("--subject", required=True)
@click.option("--text", required=True, help="The message the subject sent.")
@click.option("--channel", default="sms", show_default=True)
@click.option("--sender", help="The sender id it was sent to (for the reply text).")
@click.option("--at", "at_text", help="When it was sent (ISO 8601 with offset; default now).")
@source_options
@ledger_option()
@guarded
def consent_inbound(
    subject: str,
    text: str,
    channel: str,
    sender: str | None,
    at_text: str | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Record an inbound message; prints its meaning (opt_out, opt_in, help, review, none)
    and the reply to send, as JSON."""
    at = when(at_text)
    gate = open_gate(repo, bundle, ledger)
    result = gate.ledger.inbound(
        subject=subject, text=text, channel=channel, sender=sender, at=at or now(gate)
    )
    click.echo(json.dumps({"action": result.action, "reply": result.reply, "id": result.id}))


@consent.command("show")
@click.argument("subject")
@ledger_option()
@guarded
def consent_show(subject: str, ledger: Path | None) -> None:
    """Every consent event of SUBJECT, oldest first, as JSON lines."""
    from compliance.gate.recipient import parse

    who = parse(subject).subject
    for event in open_ledger(ledger, readonly=True).history(who):
        click.echo(json.dumps(event, ensure_ascii=False))


@consent.command("reviews")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved reviews.")
@ledger_option()
@guarded
def consent_reviews(include_resolved: bool, ledger: Path | None) -> None:
    """Replies that might be opt-outs ("stop? who is this") and wait for a person, oldest
    first, as JSON lines. Marketing to each subject on that channel is held until the review
    is resolved with `compliance consent resolve`."""
    for review in open_ledger(ledger, readonly=True).reviews(include_resolved=include_resolved):
        click.echo(json.dumps(review, ensure_ascii=False))


@consent.command("resolve")
@click.argument("review", type=int)
@click.option(
    "--opt-out/--not-opt-out",
    "opt_out",
    required=True,
    help="--opt-out: the reply was an opt-out (consent on the channel is revoked from when it "
    "came in); --not-opt-out: it was not, and consent on record decides again.",
)
@click.option("--by", required=True, help="Who read the reply, e.g. jane@example.com.")
@click.option("--note", help="Why, for the audit trail.")
@ledger_option()
@guarded
def consent_resolve(
    review: int, opt_out: bool, by: str, note: str | None, ledger: Path | None
) -> None:
    """Resolve REVIEW (an id from `compliance consent reviews`)."""
    seq = open_ledger(ledger).resolve_review(review, opt_out=opt_out, by=by, note=note)
    click.echo(
        f"review {review} resolved as {'an opt-out' if opt_out else 'not an opt-out'}: "
        f"audit entry {seq}"
    )


@consent.command("erase")
@click.argument("subject")
@ledger_option()
@guarded
def consent_erase(subject: str, ledger: Path | None) -> None:
    """Remove SUBJECT's raw identifier from a ledger that pseudonymises subjects (created with
    COMPLIANCE_SUBJECT_KEY set); a hashed suppression entry keeps them from being messaged
    again, nothing writes the identifier back, and the audit trail stays intact."""
    from compliance.gate.recipient import parse

    seq = open_ledger(ledger).erase(parse(subject).subject)
    click.echo(f"erased: audit entry {seq}")


@consent.command("import")
@click.argument("file", type=click.File("rb"))
@source_options
@ledger_option()
@guarded
def consent_import(
    file: IO[bytes], repo: Path | None, bundle: Path | None, ledger: Path | None
) -> None:
    """Grants and revocations from a UTF-8 CSV with columns subject, channel, scope, action
    (grant or revoke), source, at. Every row is checked first: one bad row and nothing is
    written."""
    name = getattr(file, "name", "FILE")
    reader = csv.DictReader(io.StringIO(read_text(file, name)))
    try:
        fields = reader.fieldnames
    except csv.Error as exc:
        raise DataError(f"{name}: line {reader.line_num}: {exc}") from None
    missing = {"subject", "channel", "action", "source", "at"} - set(fields or ())
    if missing:
        raise DataError(
            f"{name}: the header needs the columns subject, channel, scope, action, source, at; "
            f"{', '.join(sorted(missing))} missing"
        )
    gate = open_gate(repo, bundle, ledger)
    problems, events = [], []
    for line, row in _rows(reader, name):
        try:
            event = {**row, "at": when(row.get("at") or None, "at")}
            gate.ledger.checked([event])
            events.append(event)
        except DataError as exc:
            problems.append(f"line {line}: {exc.message}")
        except ValueError as exc:
            problems.append(f"line {line}: {str(exc).removeprefix('event 1: ')}")
    if problems:
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise DataError(f"{name}: nothing imported:\n" + "\n".join(shown))
    gate.ledger.record_many(events)
    click.echo(f"imported {len(events)} consent event(s)")


def _rows(reader: csv.DictReader[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote...
        # (line_num counts the lines read before the one that failed)
        raise DataError(f"{name}: line {reader.line_num + 1}: {exc}") from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise DataError(
            '--evidence is not JSON; write an object, e.g. {"ip": "198.51.100.7"}'
        ) from None
    if not isinstance(value, dict):
        raise DataError('--evidence must be a JSON object, e.g. {"ip": "198.51.100.7"}')
    return value
