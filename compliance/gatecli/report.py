"""`compliance report`: the officer's page (or its figures as JSON) from the ledger."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from compliance.gatecli.common import (
    EXIT_NO,
    DataError,
    guarded,
    ledger_option,
    now,
    open_ledger,
    output,
    repo_root,
    source_options,
    when,
)

DEFAULT_OUTPUT = Path("compliance-report.html")


@click.command()
@click.option(
    "--since", help="Start of the period (ISO 8601 with offset; default: the trail's start)."
)
@click.option(
    "--until", help="End of the period, excluded (default: now). The state shown is as of then."
)
@click.option(
    "--market",
    "markets",
    multiple=True,
    help="Only this market (repeatable): decisions judged under it, its opt-outs, scopes, "
    "registries and lint findings.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json"]),
    default="html",
    show_default=True,
    help="html: one self-contained page; json: every figure the page shows.",
)
@click.option(
    "-o",
    "--output",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (default: standard output, or compliance-report.html for html "
    "on a terminal).",
)
@source_options
@ledger_option()
@guarded
def report(
    since: str | None,
    until: str | None,
    markets: tuple[str, ...],
    fmt: str,
    path: Path | None,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | str | None,
) -> None:
    """Report what the ledger shows for a compliance officer or an auditor: whether the trail
    verifies, decisions by outcome, reason and market, opt-outs and any send that followed one
    past its market's deadline, consent in force and expiring, open reviews, do-not-contact
    lists and registry freshness, pauses, and the template repo's lint findings.

    \b
    Market rules (opt-out deadlines, registry freshness, consent lifetimes) come from --repo or
    --bundle, else the repo holding the working folder, else the market files shipped with
    compliance (then there are no lint findings). Opens the ledger read-only; subjects appear
    as the ledger stores them. Exit 0, or 1 when the audit trail does not verify (the report
    is still written, and says so)."""
    from compliance.report import figures, page

    start = when(since, "--since")
    end = when(until, "--until")
    clock = now()
    end = end or clock
    if start and end <= start:
        raise DataError("--until must be later than --since")
    catalog, source, lint = _catalog(repo, bundle)
    codes = tuple(dict.fromkeys(code.strip().upper() for code in markets))
    unknown = [code for code in codes if code not in catalog.markets]
    if unknown:
        raise DataError(
            f"--market {', '.join(unknown)}: not a market of {source}; its markets are "
            + ", ".join(sorted(catalog.markets))
        )
    if path is None and fmt == "html" and sys.stdout.isatty():
        path = DEFAULT_OUTPUT
    db = open_ledger(ledger, readonly=True)
    _not_the_ledger(path, db)
    if db.version < 3:
        raise DataError(
            f"ledger {db.path} is of schema {db.version}; the report reads schema 3 or later: "
            "bring it up to date with `compliance ledger upgrade` (on a copy, if it is an "
            "auditor's)"
        )
    started = time.perf_counter()
    verdict = db.verify()
    scope = figures.Scope(
        since=start,
        until=end,
        now=clock,
        markets=codes,
        catalog_source=source,
        lint=lint,
        verdict=verdict,
        verify_seconds=time.perf_counter() - started,
    )
    from compliance.errors import LedgerError

    try:
        found = figures.build(db, catalog, scope)
    except (figures.ReportError, LedgerError) as exc:
        if verdict.ok:
            raise DataError(str(exc)) from None
        # the trail was changed and its entries cannot be read as the gate wrote them: the
        # report still says what verify found, which is what the officer must see
        found = figures.unreadable(db, scope, str(exc))
    text = (
        json.dumps(found, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else page.render(found)
    )
    if path is None:
        with output(None) as handle:
            handle.write(text)
    else:
        _write_whole(path, text)
    if path is not None:
        click.echo(f"wrote {path}: {summary(found)}", err=True)
    if not verdict.ok:
        click.echo(
            f"the audit trail does not verify: {verdict}; the report reads a ledger that was "
            "changed",
            err=True,
        )
        sys.exit(EXIT_NO)


def _not_the_ledger(path: Path | None, db: Any) -> None:
    """-o must not name the ledger or its companion files: the page would replace them."""
    if path is None or not isinstance(db.path, Path):
        return
    ledger = db.path.resolve()
    names = {ledger, *(ledger.with_name(ledger.name + end) for end in ("-wal", "-shm", "-journal"))}
    if path.resolve() in names:
        raise DataError(f"-o {path} is the ledger's own file: write the report elsewhere")


def _write_whole(path: Path, text: str) -> None:
    """Write the report to a new file beside `path`, then put it in place: a disk that fills
    up leaves the earlier report as it was, never half of a new one."""
    import os
    import tempfile

    if path.is_dir():
        raise DataError(f"cannot write -o {path}: it is a folder")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    except OSError as exc:
        raise DataError(f"cannot write -o {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DataError(f"cannot write -o {path}: {exc.strerror or exc}") from None


def summary(found: dict[str, Any]) -> str:
    trail = found["trail"]
    state = "trail intact" if trail.get("ok") else "TRAIL BROKEN"
    if found.get("error"):
        return f"{state} ({trail.get('entries', 0):,} entries); no figures: {found['error']}"
    decisions, opt_outs = found["decisions"], found["opt_outs"]
    stale = found["lists"]["stale"]
    return (
        f"{state} ({trail.get('entries', 0):,} entries), {decisions['total']:,} decisions, "
        f"{opt_outs['total']:,} opt-outs ({opt_outs['breached']:,} breached), "
        f"{found['consent']['reviews']['open']:,} open reviews, {stale:,} stale registr"
        + ("y" if stale == 1 else "ies")
    )


def _catalog(repo: Path | None, bundle: Path | None) -> tuple[Any, str, Any]:
    """The catalog the market rules come from, what it is, and the lint result (repo only)."""
    from compliance.gate.catalog import Catalog, from_bundle, linted

    if repo is not None and bundle is not None:
        raise DataError("give --repo or --bundle, not both")
    if bundle is not None:
        return from_bundle(bundle), f"bundle {bundle}", None
    if repo is None:
        repo = repo_root()
    if repo is not None:
        catalog, result = linted(repo)
        return catalog, f"repo {repo}", result
    from compliance.packs import load_packs

    packs = load_packs()
    shipped = Catalog(markets={code: m.parameters for code, m in packs.markets.items()})
    return shipped, "the market files shipped with compliance", None
