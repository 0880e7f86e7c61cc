"""`compliance dnc import` and `compliance reassigned import`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from compliance.gatecli.common import (
    DataError,
    csv_rows,
    guarded,
    ledger_option,
    open_ledger,
    when,
)


@click.group()
def dnc() -> None:
    """Do-not-contact lists."""


@dnc.command("import")
@click.argument("name")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--registry",
    is_flag=True,
    help="A registry download (numbers only; records the check time): the national one with "
    "--market, a state's own list with --market and --region. A state's list imported without "
    "--region would count as a check of the national registry.",
)
@click.option("--market", help="The registry's market (with --registry), e.g. US.")
@click.option(
    "--region",
    help="With --registry: a state's own list (US-TX for the Texas No-Call List); its "
    "import time is the check the market file's state_do_not_call asks for.",
)
@click.option("--checked-at", help="When the registry was checked (default now).")
@ledger_option()
@guarded
def dnc_import(
    name: str,
    file: IO[bytes],
    registry: bool,
    market: str | None,
    region: str | None,
    checked_at: str | None,
    ledger: Path | None,
) -> None:
    """Add the phone numbers and email addresses in FILE (a UTF-8 CSV: a `number` column,
    header optional, optional `added_at`) to list NAME. Marketing to anyone on a list is
    denied, on every channel their entry can name. Rows that cannot be honoured are reported
    and nothing is imported."""
    from compliance.countries import ISO_3166_ALPHA2
    from compliance.gate.consent import dnc_entry

    if not name.strip():
        raise DataError("the list NAME is empty: name the list, e.g. internal")
    if registry and not market:
        raise DataError("--registry needs --market, the registry's country (e.g. US)")
    if market and not registry:
        raise DataError("--market goes with --registry (a national registry's country)")
    if market and market.upper() not in ISO_3166_ALPHA2:
        raise DataError(f"--market {market!r} is not an ISO 3166-1 country code, e.g. US")
    if region is not None:
        region = region.strip().upper()
        if not registry:
            raise DataError("--region goes with --registry and --market (a state's own list)")
        if not _subdivision_of(region, market.upper() if market else ""):
            raise DataError(
                f"--region {region!r} is not a state of {market.upper()} the gate can tell "
                "from a number (ISO 3166-2, e.g. US-TX)"
            )
    checked = when(checked_at, "--checked-at")
    entries, problems = [], []
    for line, value, added in _rows(file, "added_at"):
        try:
            entries.append(dnc_entry((value, added), registry, f"line {line}"))
        except (TypeError, ValueError) as exc:
            problems.append(str(exc))
    _refuse(problems, file)
    db = open_ledger(ledger)
    seq = db.import_dnc(
        name,
        entries,
        registry_market=region or (market.upper() if registry and market else None),
        checked_at=checked,
    )
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    click.echo(f"imported {count} into {name}: audit entry {seq}")


def _subdivision_of(region: str, market: str) -> bool:
    from compliance.gate.recipient import known_regions

    return region.split("-")[0] == market and region in known_regions()


@click.group()
def reassigned() -> None:
    """Reassigned (disconnected) numbers."""


@reassigned.command("import")
@click.argument("file", type=click.File("rb"))
@ledger_option()
@guarded
def reassigned_import(file: IO[bytes], ledger: Path | None) -> None:
    """Numbers and disconnection dates (a UTF-8 CSV: number, disconnected; a date without a
    time is midnight UTC). Consent given before a number was disconnected no longer counts."""
    from compliance.gate.model import aware
    from compliance.gate.recipient import InvalidRecipient, parse

    rows, problems = [], []
    for line, number, text in _rows(file, "disconnected"):
        try:
            disconnected = _date(text or "")
            found = parse(number)
            if not found.is_phone:
                raise ValueError(f"{number!r} is not a phone number")
            rows.append((found.subject, aware(disconnected, "disconnected")))
        except (InvalidRecipient, ValueError) as exc:
            problems.append(f"line {line}: {exc}")
    _refuse(problems, file)
    seq = open_ledger(ledger).import_reassigned(rows)
    click.echo(f"imported {len(rows)} reassigned number(s): audit entry {seq}")


def _date(text: str) -> dt.datetime:
    try:
        found = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date; write e.g. 2026-11-01 or 2026-11-01T00:00:00Z"
        ) from None
    return found if found.tzinfo else found.replace(tzinfo=dt.timezone.utc)


def _rows(file: IO[bytes], second: str) -> Iterator[tuple[int, str, Any]]:
    header: list[str] | None = None
    for line, cells in csv_rows(file, getattr(file, "name", "FILE")):
        if header is None and line == 1 and "number" in [c.lower() for c in cells]:
            header = [c.lower() for c in cells]
            continue
        if header:
            record = dict(zip(header, cells, strict=False))
            yield line, record.get("number", ""), record.get(second) or None
        else:
            yield line, cells[0], (cells[1] if len(cells) > 1 and cells[1] else None)


def _refuse(problems: list[str], file: IO[bytes]) -> None:
    if problems:
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise DataError(f"{getattr(file, 'name', 'FILE')}: nothing imported:\n" + "\n".join(shown))
