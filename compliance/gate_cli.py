"""Commands that use the runtime gate and its ledger: consent, dnc, reassigned, check, pause,
resume, audit, bundle. Each parses, calls the library and chooses the exit code."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2


class DataError(click.ClickException):
    """Bad data (a malformed or untrusted bundle, a bad key), not bad usage: exit 2 with the
    message alone, since a usage banner would point at the command line, which is fine."""

    exit_code = EXIT_USAGE


def _when(value: str | None, name: str = "--at") -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-11-26T15:00:00Z", param_hint=name
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no offset: add Z or +01:00", param_hint=name)
    return parsed


def ledger_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ledger",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Ledger file (default: $COMPLIANCE_DB, else .compliance/ledger.db; "
        "created when missing).",
    )(f)


def source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--bundle",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="A bundle built by `compliance bundle` instead of the repo.",
    )(f)
    return click.option(
        "--repo",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        help="Template repo (default: the repo of the working folder).",
    )(f)


def _gate(repo: Path | None, bundle: Path | None, ledger: Path | None) -> Any:
    from compliance.config import load_config
    from compliance.errors import BundleError
    from compliance.gate import Gate

    if bundle is None and repo is None:
        repo = load_config(None, Path.cwd()).root
    try:
        return Gate.open(repo=repo, bundle=bundle, ledger=ledger)
    except BundleError as exc:  # bad data, not bad usage: no usage banner
        raise DataError(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _ledger(ledger: Path | None, *, readonly: bool = False) -> Any:
    """The ledger; read-only commands need an existing one and never write to it."""
    from compliance.gate.ledger import Ledger, default_path

    return Ledger(ledger or default_path(), readonly=readonly)


def register(cli: click.Group) -> None:
    for command in (consent, dnc, reassigned, check, pause, resume, audit, bundle):
        cli.add_command(command)


@click.group()
def consent() -> None:
    """Record and show consent in the ledger."""


def _consent_call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ValueError as exc:  # unknown scope or channel, bad number, naive time
        raise click.UsageError(str(exc)) from None


@consent.command("grant")
@click.option("--subject", required=True, help="Phone number (+E.164) or email address.")
@click.option("--channel", required=True)
@click.option("--scope", required=True, help="A consent_scope id of the repo.")
@click.option("--source", required=True, help="Where consent was given, e.g. web-checkout.")
@click.option("--at", "at_text", help="When (ISO 8601 with offset; default now).")
@click.option("--evidence", help='JSON object of evidence, e.g. \'{"ip": "198.51.100.7"}\'.')
@source_options
@ledger_option
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
    gate = _gate(repo, bundle, ledger)
    extra = _json_object(evidence) if evidence else None
    seq = _consent_call(
        lambda: gate.ledger.grant(
            subject=subject,
            channel=channel,
            scope=scope,
            source=source,
            at=_when(at_text) or _now(),
            evidence=extra,
        )
    )
    click.echo(f"granted: audit entry {seq}")


@consent.command("revoke")
@click.option("--subject", required=True)
@click.option("--channel", required=True)
@click.option("--scope", help="One scope (default: every scope on the channel).")
@click.option("--source", required=True)
@click.option("--at", "at_text")
@source_options
@ledger_option
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
    """Record that SUBJECT withdrew consent (one scope, or all on the channel)."""
    gate = _gate(repo, bundle, ledger)
    seq = _consent_call(
        lambda: gate.ledger.revoke(
            subject=subject,
            channel=channel,
            scope=scope,
            source=source,
            at=_when(at_text) or _now(),
        )
    )
    click.echo(f"revoked: audit entry {seq}")


@consent.command("inbound")
@click.option("--subject", required=True)
@click.option("--text", required=True, help="The message the subject sent.")
@click.option("--channel", default="sms", show_default=True)
@click.option("--sender", help="The sender id it was sent to (for the reply text).")
@click.option("--at", "at_text")
@source_options
@ledger_option
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
    gate = _gate(repo, bundle, ledger)
    result = _consent_call(
        lambda: gate.ledger.inbound(
            subject=subject, text=text, channel=channel, sender=sender, at=_when(at_text) or _now()
        )
    )
    click.echo(json.dumps({"action": result.action, "reply": result.reply, "id": result.id}))


@consent.command("show")
@click.argument("subject")
@ledger_option
def consent_show(subject: str, ledger: Path | None) -> None:
    """Every consent event of SUBJECT, oldest first, as JSON lines."""
    from compliance.gate.recipient import InvalidRecipient, parse

    try:
        who = parse(subject).subject
    except InvalidRecipient as exc:
        raise click.UsageError(str(exc)) from None
    for event in _ledger(ledger, readonly=True).history(who):
        click.echo(json.dumps(event, ensure_ascii=False))


@consent.command("reviews")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved reviews.")
@ledger_option
def consent_reviews(include_resolved: bool, ledger: Path | None) -> None:
    """Replies that might be opt-outs ("stop? who is this") and wait for a person, oldest
    first, as JSON lines. Marketing to each subject on that channel is held until the review
    is resolved with `compliance consent resolve`."""
    for review in _ledger(ledger, readonly=True).reviews(include_resolved=include_resolved):
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
@click.option("--at", "at_text", help="When (ISO 8601 with offset; default now).")
@ledger_option
def consent_resolve(
    review: int,
    opt_out: bool,
    by: str,
    note: str | None,
    at_text: str | None,
    ledger: Path | None,
) -> None:
    """Resolve REVIEW (an id from `compliance consent reviews`)."""
    seq = _consent_call(
        lambda: _ledger(ledger).resolve_review(
            review, opt_out=opt_out, by=by, note=note, at=_when(at_text) or _now()
        )
    )
    click.echo(
        f"review {review} resolved as {'an opt-out' if opt_out else 'not an opt-out'}: "
        f"audit entry {seq}"
    )


@consent.command("erase")
@click.argument("subject")
@ledger_option
def consent_erase(subject: str, ledger: Path | None) -> None:
    """Remove SUBJECT's raw identifier from a ledger that pseudonymises subjects (created with
    COMPLIANCE_SUBJECT_KEY set); a hashed suppression entry keeps them from being messaged
    again, and the audit trail stays intact."""
    from compliance.gate.recipient import InvalidRecipient, parse

    try:
        who = parse(subject).subject
    except InvalidRecipient as exc:
        raise click.UsageError(str(exc)) from None
    seq = _ledger(ledger).erase(who, _now())
    click.echo(f"erased: audit entry {seq}")


@consent.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@source_options
@ledger_option
def consent_import(
    file: io.TextIOBase, repo: Path | None, bundle: Path | None, ledger: Path | None
) -> None:
    """Grants and revocations from a CSV with columns subject, channel, scope, action (grant
    or revoke), source, at. Every row is checked first: one bad row and nothing is written."""
    gate = _gate(repo, bundle, ledger)
    rows = list(csv.DictReader(file))
    problems, events = [], []
    for number, row in enumerate(rows, 2):  # line 1 is the header
        try:
            events.append({**row, "at": _when(row.get("at") or None, "at")})
        except click.BadParameter as exc:
            problems.append(f"line {number}: {exc.message}")
            continue
        try:
            gate.ledger.checked([events[-1]])
        except ValueError as exc:
            problems.append(f"line {number}: {str(exc).removeprefix('event 1: ')}")
    if problems:
        raise click.UsageError("nothing imported:\n" + "\n".join(problems[:20]))
    _consent_call(lambda: gate.ledger.record_many(events))
    click.echo(f"imported {len(rows)} consent event(s)")


@click.group()
def dnc() -> None:
    """Do-not-contact lists."""


@dnc.command("import")
@click.argument("name")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--registry",
    is_flag=True,
    help="A national registry download (records the check time, see --market).",
)
@click.option("--market", help="The registry's market (with --registry), e.g. US.")
@click.option("--checked-at", help="When the registry was checked (default now).")
@ledger_option
def dnc_import(
    name: str,
    file: io.TextIOBase,
    registry: bool,
    market: str | None,
    checked_at: str | None,
    ledger: Path | None,
) -> None:
    """Add the numbers in FILE (CSV: a `number` column, header optional, optional
    `added_at`) to list NAME. Bad rows are reported and nothing is imported."""
    from compliance.gate.recipient import InvalidRecipient, parse

    if registry and not market:
        raise click.UsageError("--registry needs --market, the registry's country (e.g. US)")
    numbers, problems = [], []
    for line, number, added in _number_rows(file):
        try:
            numbers.append((parse(number).subject, added))
        except InvalidRecipient as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise click.UsageError("nothing imported:\n" + "\n".join(problems[:20]))
    seq = _ledger(ledger).import_dnc(
        name,
        numbers,
        registry_market=market.upper() if registry and market else None,
        checked_at=(_when(checked_at, "--checked-at") or _now()) if registry else None,
        at=_now(),
    )
    click.echo(f"imported {len(numbers)} number(s) into {name}: audit entry {seq}")


@click.group()
def reassigned() -> None:
    """Reassigned (disconnected) numbers."""


@reassigned.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@ledger_option
def reassigned_import(file: io.TextIOBase, ledger: Path | None) -> None:
    """Numbers and disconnection dates (CSV: number, disconnected). Consent given before a
    number was disconnected no longer counts."""
    from compliance.gate.recipient import InvalidRecipient, parse

    rows, problems = [], []
    for line, number, when in _number_rows(file, second="disconnected"):
        try:
            disconnected = dt.datetime.fromisoformat((when or "").replace("Z", "+00:00"))
            if disconnected.tzinfo is None:
                disconnected = disconnected.replace(tzinfo=dt.timezone.utc)
            rows.append((parse(number).subject, disconnected))
        except (InvalidRecipient, ValueError) as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise click.UsageError("nothing imported:\n" + "\n".join(problems[:20]))
    seq = _ledger(ledger).import_reassigned(rows, at=_now())
    click.echo(f"imported {len(rows)} reassigned number(s): audit entry {seq}")


def _number_rows(file: io.TextIOBase, second: str = "added_at") -> Iterator[tuple[int, str, Any]]:
    reader = csv.reader(file)
    header: list[str] | None = None
    for line, row in enumerate(reader, 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [c.strip() for c in row]
        if line == 1 and "number" in [c.lower() for c in cells]:
            header = [c.lower() for c in cells]
            continue
        if header:
            record = dict(zip(header, cells, strict=False))
            yield line, record.get("number", ""), record.get(second) or None
        else:
            yield line, cells[0], (cells[1] if len(cells) > 1 and cells[1] else None)


@click.command()
@click.option("--to", "to", required=True, help="Recipient: +E.164 number or email.")
@click.option("--template", required=True)
@click.option("--at", "at_text", help="When (ISO 8601 with offset; default now).")
@click.option("--channel")
@click.option("--sender")
@source_options
@ledger_option
def check(
    to: str,
    template: str,
    at_text: str | None,
    channel: str | None,
    sender: str | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Check one send and print the decision as JSON (audited like any other).

    Exit 0 for allow, 1 for deny or defer.
    """
    from compliance.gate import Send

    gate = _gate(repo, bundle, ledger)
    decision = gate.check(
        Send(to=to, template=template, at=_when(at_text) or _now(), channel=channel, sender=sender)
    )
    click.echo(json.dumps(decision.to_dict(), ensure_ascii=False))
    sys.exit(EXIT_OK if decision.allowed else EXIT_NO)


def _pause_command(paused: bool) -> click.Command:
    verb = "pause" if paused else "resume"

    @click.command(
        verb,
        help=f"{verb.capitalize()} sends of a template, a sender or a market (exactly one), "
        "with a reason; audited.",
    )
    @click.option("--template")
    @click.option("--sender")
    @click.option("--market")
    @click.option("--reason", required=True)
    @click.option("--by", required=True, help="Who decided, e.g. an email address.")
    @source_options
    @ledger_option
    def command(
        template: str | None,
        sender: str | None,
        market: str | None,
        reason: str,
        by: str,
        repo: Path | None,
        bundle: Path | None,
        ledger: Path | None,
    ) -> None:
        gate = _gate(repo, bundle, ledger)
        action = gate.pause if paused else gate.resume
        try:
            seq = action(template=template, sender=sender, market=market, reason=reason, by=by)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"{verb}d: audit entry {seq}")

    return command


pause = _pause_command(True)
resume = _pause_command(False)


@click.group()
def audit() -> None:
    """Verify and export the audit trail."""


@audit.command("verify")
@ledger_option
def audit_verify(ledger: Path | None) -> None:
    """Recompute the hash chain (and the HMACs with COMPLIANCE_AUDIT_KEY). Exit 0 when
    intact, 1 naming the first broken entry."""
    verdict = _ledger(ledger, readonly=True).verify()
    click.echo(str(verdict))
    sys.exit(EXIT_OK if verdict.ok else EXIT_NO)


@audit.command("export")
@click.option("--since", help="From this time (ISO 8601 with offset).")
@click.option("--until", help="Before this time.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False))
@ledger_option
def audit_export(
    since: str | None, until: str | None, fmt: str, output: Path | None, ledger: Path | None
) -> None:
    """Stream the audit trail, oldest first, for an auditor."""
    from compliance.gate import audit as trail
    from compliance.gate.ledger import micros

    db = _ledger(ledger, readonly=True)
    start = _when(since, "--since")
    end = _when(until, "--until")
    entries = trail.export(db.conn, micros(start) if start else None, micros(end) if end else None)
    handle = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer:
            writer.writerow(trail.EXPORTED)
        count = 0
        for entry in entries:
            if writer:
                writer.writerow(
                    [
                        json.dumps(entry[name], ensure_ascii=False)
                        if name == "data"
                        else entry[name]
                        for name in trail.EXPORTED
                    ]
                )
            else:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
            if output and count % 100_000 == 0 and sys.stderr.isatty():
                click.echo(f"\r{count:,} entries", err=True, nl=False)
    finally:
        if output:
            handle.close()
    if output:
        click.echo(f"exported {count:,} entries to {output}", err=True)


def _bundle_call(action: Callable[[], Any]) -> Any:
    from compliance.errors import BundleError

    try:
        return action()
    except BundleError as exc:
        raise DataError(str(exc)) from None


@click.group(invoke_without_command=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Build the bundle into FILE.",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Template repo (default: the repo of the working folder).",
)
@click.pass_context
def bundle(ctx: click.Context, output: Path | None, repo: Path | None) -> None:
    """Build a bundle of the linted repo for production (`compliance bundle -o FILE`):
    documents, market parameters, each document's lint errors and a digest. It is built even
    when templates have lint errors; the gate then refuses those (template.lint).

    \b
    Signing (Ed25519; key pairs from `compliance bundle keygen`):
      COMPLIANCE_BUNDLE_SIGNING_KEY  ed25519-priv:<base64 of 32 bytes>, in CI secrets
                                     only: `compliance bundle -o` signs with it
      COMPLIANCE_BUNDLE_KEY          ed25519-pub:<base64 of 32 bytes>, on production
                                     hosts; several (commas or spaces) while rotating;
                                     only bundles signed by one of them load

    With COMPLIANCE_BUNDLE_KEY set and no signing key, building refuses: this host would
    refuse its own unsigned bundle.
    """
    if ctx.invoked_subcommand is not None:
        if output is not None or repo is not None:
            raise click.UsageError(
                f"-o and --repo build a bundle; they do not go with `{ctx.invoked_subcommand}`"
            )
        return
    if output is None:
        raise click.UsageError(
            "say where to write the bundle: `compliance bundle -o bundle.json`; "
            "`compliance bundle keygen` makes a signing key pair and "
            "`compliance bundle verify FILE` checks a bundle"
        )
    _build_bundle(output, repo)


def _build_bundle(output: Path, repo: Path | None) -> None:
    from compliance.config import load_config
    from compliance.gate import signing
    from compliance.gate.catalog import from_repo, write_bundle

    private = _bundle_call(signing.signing_key)
    trusted = _bundle_call(signing.trusted_keys)
    if private is None and trusted is not None:
        raise DataError(
            f"{signing.TRUSTED_KEYS_ENV} is set but {signing.SIGNING_KEY_ENV} is not: this "
            "host can check bundles but not sign them, and would refuse the unsigned bundle "
            f"it built. Build bundles in CI, with {signing.SIGNING_KEY_ENV} set"
        )
    root = repo or load_config(None, Path.cwd()).root
    built = _bundle_call(lambda: write_bundle(from_repo(root), output))
    failing = sum(1 for key in built["lint_errors"] if key.startswith("template:"))
    signature = built.get("signature")
    sealed = (
        f"signed by key {signature['key_id']}"
        if signature
        else f"unsigned (set {signing.SIGNING_KEY_ENV} in CI to sign it)"
    )
    click.echo(
        f"wrote {output}: {len(built['documents'])} documents, {failing} template(s) "
        f"with lint errors, digest {built['digest'][:12]}, {sealed}"
    )
    if signature and trusted is not None and signature["key_id"] not in trusted:
        click.echo(
            f"warning: key {signature['key_id']} is not in {signing.TRUSTED_KEYS_ENV} here, "
            "so hosts configured like this one will refuse the bundle",
            err=True,
        )


@bundle.command("keygen", short_help="Print a key pair for signing bundles.")
def bundle_keygen() -> None:
    """Print a new Ed25519 key pair for signing bundles, as lines for an env file: the
    private key for COMPLIANCE_BUNDLE_SIGNING_KEY (CI secrets only), the public key for
    COMPLIANCE_BUNDLE_KEY (production hosts)."""
    from compliance.gate import signing

    pair = signing.generate()
    click.echo(
        f"# compliance bundle signing key pair, key id {pair.key_id}\n"
        "# The private key belongs ONLY in your CI secrets: whoever holds it can sign bundles\n"
        "# that production trusts. Never put it on a production host or in a repo.\n"
        f"{signing.SIGNING_KEY_ENV}={pair.private}\n"
        "# The public key goes on every production host that loads bundles; to rotate keys,\n"
        "# list the old and the new one, separated by a comma, until old bundles are gone.\n"
        f"{signing.TRUSTED_KEYS_ENV}={pair.public}"
    )


@bundle.command("verify", short_help="Check a bundle as Gate.open would here.")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def bundle_verify(file: Path) -> None:
    """Check FILE as Gate.open would on this host: its digest and, with COMPLIANCE_BUNDLE_KEY
    set, its signature. Exit 0 when it would load, 1 when it would be refused, 2 when it is
    malformed or a key variable is."""
    from compliance.gate.catalog import check_bundle

    seal = _bundle_call(lambda: check_bundle(file))
    if seal.problem:
        click.echo(f"refused: {seal.problem}")
        sys.exit(EXIT_NO)
    if seal.checked:
        click.echo(f"{file}: intact, signed by key {seal.key_id} (in COMPLIANCE_BUNDLE_KEY)")
    elif seal.key_id:
        click.echo(
            f"{file}: digest matches; signed by key {seal.key_id}, not checked: set "
            "COMPLIANCE_BUNDLE_KEY to the public key(s) to check the signature"
        )
    else:
        click.echo(
            f"{file}: digest matches; unsigned (hosts with COMPLIANCE_BUNDLE_KEY set refuse it)"
        )
    sys.exit(EXIT_OK)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise click.BadParameter("not JSON", param_hint="--evidence") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--evidence")
    return value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
