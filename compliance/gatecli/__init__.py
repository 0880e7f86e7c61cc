"""Commands that use the runtime gate and its ledger: ledger, consent, dnc, reassigned, check,
pause, resume, audit, report, bundle and serve. Each parses, calls the library and chooses the
exit code."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    from compliance.gatecli.audit import audit, ledger
    from compliance.gatecli.bundle import bundle
    from compliance.gatecli.consent import consent
    from compliance.gatecli.decide import check, pause, resume
    from compliance.gatecli.lists import dnc, reassigned
    from compliance.gatecli.report import report
    from compliance.gatecli.serve import serve

    for command in (
        ledger,
        consent,
        dnc,
        reassigned,
        check,
        pause,
        resume,
        audit,
        report,
        bundle,
        serve,
    ):
        cli.add_command(command)
