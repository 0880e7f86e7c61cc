"""`compliance check`, `compliance pause` and `compliance resume`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compliance.gatecli.common import (
    EXIT_NO,
    EXIT_OK,
    guarded,
    ledger_option,
    open_gate,
    source_options,
    when,
)


@click.command()
@click.option("--to", "to", required=True, help="Recipient: +E.164 number or email.")
@click.option("--template", required=True)
@click.option(
    "--at",
    "at_text",
    help="When the message will go out (ISO 8601 with offset; default now). A time already "
    "past is judged as now.",
)
@click.option("--channel", help="Must be the template's channel (default: it).")
@click.option("--sender")
@click.option("--market", help="A market the business knows the recipient is in (adds its rules).")
@click.option("--timezone", help="The recipient's IANA time zone, if the business knows it.")
@source_options
@ledger_option()
@guarded
def check(
    to: str,
    template: str,
    at_text: str | None,
    channel: str | None,
    sender: str | None,
    market: str | None,
    timezone: str | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Check one send and print the decision as JSON (audited like any other).

    Exit 0 for allow, 1 for deny or defer.
    """
    from compliance.gate import Send

    at = when(at_text)
    gate = open_gate(repo, bundle, ledger)
    decision = gate.check(
        Send(
            to=to,
            template=template,
            at=at,
            channel=channel,
            sender=sender,
            market=market.upper() if market else None,
            timezone=timezone,
        )
    )
    click.echo(json.dumps(decision.to_dict(), ensure_ascii=False))
    sys.exit(EXIT_OK if decision.allowed else EXIT_NO)


def _pause_command(paused: bool) -> click.Command:
    verb = "pause" if paused else "resume"

    @click.command(
        verb,
        help=f"{verb.capitalize()} sends of a template, a sender or a market (exactly one, "
        "which must exist in the repo or bundle), or marketing to numbers in a region, with a "
        "reason; audited.",
    )
    @click.option("--template")
    @click.option("--sender")
    @click.option("--market")
    @click.option(
        "--region",
        help="An ISO 3166-2 subdivision, e.g. US-LA: marketing to numbers there (a declared "
        "emergency under a state law that bars telephone solicitation; see the market file's "
        "emergency_bans).",
    )
    @click.option("--reason", required=True)
    @click.option("--by", required=True, help="Who decided, e.g. an email address.")
    @source_options
    @ledger_option()
    @guarded
    def command(
        template: str | None,
        sender: str | None,
        market: str | None,
        region: str | None,
        reason: str,
        by: str,
        repo: Path | None,
        bundle: Path | None,
        ledger: Path | None,
    ) -> None:
        gate = open_gate(repo, bundle, ledger)
        action = gate.pause if paused else gate.resume
        seq = action(
            template=template,
            sender=sender,
            market=market.upper() if market else None,
            region=region,
            reason=reason,
            by=by,
        )
        click.echo(f"{verb}d: audit entry {seq}")

    return command


pause = _pause_command(True)
resume = _pause_command(False)
