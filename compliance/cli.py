"""The command line: parse, call the library, render, choose the exit code.

Exit codes: 0 nothing at or above the fail level; 1 findings at or above it; 2 usage, config or
pack error; 3 internal error. Heavy imports happen inside the commands, so that
`compliance --version` and pre-commit runs start quickly.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

import click

from compliance import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order they are defined, not sorted


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="compliance")
def cli() -> None:
    """Check message templates, senders and consent scopes against market rule packs.

    \b
    compliance lint                 lint the repo in the current folder
    compliance lint templates/      lint a folder (the whole repo is still read for references)
    compliance rules list           the rules, their severity and what they check
    compliance segments "Hi there"  GSM-7 or UCS-2, and how many SMS segments
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Config file (default: compliance.yaml or .compliance.yaml found by walking "
    "up from the first path).",
)
@click.option(
    "--market",
    "markets",
    multiple=True,
    metavar="CODE",
    help="Enforce this market (repeatable); overrides the config's markets.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github", "junit"]),
    help="Output format (default: github when GITHUB_ACTIONS=true, else text).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--sarif-output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write SARIF 2.1.0 to FILE in the same run.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "never"]),
    help="Exit 1 when a finding is at or above this severity (default: the config's "
    "fail_on, else error).",
)
@click.option(
    "--include-suppressed",
    is_flag=True,
    help="Show suppressed and baselined findings too (marked as such), e.g. for auditors.",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Findings recorded in this baseline file are reported only on request and do not "
    "fail the run; entries that no longer match are listed.",
)
@click.option(
    "--write-baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Record every current finding in this baseline file (then the run passes).",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="With --baseline: drop the entries that no longer match any finding.",
)
@click.option(
    "--diff-base",
    metavar="REF",
    help="Report only on documents changed since the git ref REF (e.g. origin/main); the "
    "whole repo is still read for context.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text report (default: only on a terminal, and never with NO_COLOR).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Processes that read and check a large repo (default: the cores this process may "
    "use). Small repos, and systems without fork (Windows, macOS), use one. The report is "
    "the same whatever N.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor write the cache in .compliance_cache/ at the repo root: read and "
    "check every file.",
)
def lint(
    paths: tuple[Path, ...],
    config_path: Path | None,
    markets: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    sarif_output: Path | None,
    fail_on: str | None,
    include_suppressed: bool,
    baseline_path: Path | None,
    write_baseline: Path | None,
    update_baseline: bool,
    diff_base: str | None,
    color: bool | None,
    jobs: int | None,
    no_cache: bool,
) -> None:
    """Lint template-repo YAML files (default: the current folder).

    Only the files and folders given are reported on, but every document under the repo root
    (the folder holding the config file, else the git root) is read, so references between
    files resolve as they do in the whole repo.

    \b
    Exit codes:
      0  no finding at or above the --fail-on severity
      1  findings at or above it
      2  usage, config or rule-pack error, or a path that does not exist
      3  internal error
    """
    from compliance import baseline as baselines
    from compliance import reports
    from compliance.engine import lint as run_lint

    if write_baseline and baseline_path:
        raise click.UsageError("use --write-baseline or --baseline, not both")
    if update_baseline and not baseline_path:
        raise click.UsageError("--update-baseline needs --baseline FILE")
    held = baselines.load(baseline_path) if baseline_path else None
    codes = [code.upper() for code in markets] or None  # `--market us` means US
    # no cycle collection while linting (engine._cycle_collector_paused), nor when it ends:
    # the first allocation after re-enabling it would scan every object of the run, ~0.07 s
    # on a 10,000-template repo; what the run made is frozen below instead
    gc.disable()
    try:
        result = run_lint(
            list(paths) or ["."],
            config_path=config_path,
            markets=codes,
            diff_base=diff_base,
            baseline=held,
            jobs=jobs or _cores(),
            cache=not no_cache,
        )
    except BaseException:
        gc.enable()  # an error: nothing worth freezing
        raise
    if result.cache_note:
        click.echo(f"note: {result.cache_note}", err=True)
    if write_baseline:
        written = baselines.from_findings(write_baseline, result.findings)
        baselines.save(written)
        result.findings = [f.with_(baselined=not f.suppressed) for f in result.findings]
        click.echo(
            f"compliance: wrote {len(written.entries)} finding(s) to {write_baseline}", err=True
        )
    if held is not None:
        _report_stale(held, result.stale_baseline, update_baseline)
    # the result stays alive until exit: keep the cycle collector from rescanning it while
    # the reports are built (a fifth of the run on 10,000 templates)
    gc.freeze()
    gc.enable()
    fmt = fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    use_color = _use_color(color, output)
    text = reports.get(fmt).render(result, include_suppressed=include_suppressed, color=use_color)
    _write(text, output, color=use_color)
    if sarif_output is not None:
        _write(
            reports.get("sarif").render(result, include_suppressed=include_suppressed), sarif_output
        )
    for skipped in result.skipped:
        source = result.config.path.name if result.config.path else "the config"
        click.echo(f"note: {skipped} is left out by include/exclude in {source}", err=True)
    for missing in result.missing:
        click.echo(f"error: {missing}: no such file or folder", err=True)
    if result.missing:
        sys.exit(EXIT_USAGE)
    count, level = result.failing(fail_on)
    if count:
        click.echo(
            f"compliance: {count} finding{'s' if count != 1 else ''} at or above "
            f"'{level}' (--fail-on {level}): exit 1",
            err=True,
        )
        sys.exit(EXIT_FINDINGS)


def _cores() -> int:
    """The cores this process may run on (its affinity, as taskset or a container sets it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _report_stale(held: Any, stale: list[dict[str, Any]], update: bool) -> None:
    from compliance import baseline as baselines

    if not stale:
        return
    if update:
        baselines.save(held.without(stale))
        click.echo(
            f"compliance: dropped {len(stale)} baseline entr"
            f"{'y' if len(stale) == 1 else 'ies'} that no longer match from {held.path}",
            err=True,
        )
        return
    click.echo(
        f"compliance: {len(stale)} baseline entr{'y' if len(stale) == 1 else 'ies'} in "
        f"{held.path} no longer match a finding (fixed, or the offending text changed); "
        "--update-baseline drops them:",
        err=True,
    )
    for entry in stale[:10]:
        click.echo(
            f"  {entry['path']}: {entry['rule']} ({entry.get('document') or 'file'}): "
            f"{entry['message']}",
            err=True,
        )
    if len(stale) > 10:
        click.echo(f"  ... and {len(stale) - 10} more", err=True)


def _at_or_above(severity: str, level: str) -> bool:
    from compliance.findings import at_or_above

    return at_or_above(severity, level)


def _use_color(flag: bool | None, output: Path | None) -> bool:
    if flag is not None:
        return flag
    if output is not None or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _write(text: str, output: Path | None, color: bool = False) -> None:
    if output is None:
        click.echo(text, nl=False, color=color)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, "utf-8")
    except OSError as exc:
        from compliance.errors import UsageError

        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


@cli.command()
@click.argument("kind", required=False, type=click.Choice(["template", "sender", "consent_scope"]))
def schema(kind: str | None) -> None:
    """Print the JSON Schema of a document KIND (default: any document).

    Point your editor's YAML language server at it to validate while you type.
    """
    import json

    from compliance.documents import json_schema

    click.echo(json.dumps(json_schema(kind), indent=2))


packs_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Config file whose extra packs to include.",
)


@cli.group(cls=_Group)
def rules() -> None:
    """List, explain and test the rules."""


@rules.command("list")
@click.option("--market", metavar="CODE", help="Only the rules that run for this market.")
@packs_config_option
def rules_list(market: str | None, config_path: Path | None) -> None:
    """List the rules: id, severity, where they apply, summary.

    With --market, only the rules that run there, each with the source it enforces there.
    """
    from compliance.countries import ISO_3166_ALPHA2
    from compliance.rulesdoc import rule_rows

    packs = _packs(config_path)
    if market is not None:
        market = market.upper()
        if market not in ISO_3166_ALPHA2:
            raise click.UsageError(f"--market {market!r} is not an ISO 3166-1 alpha-2 code")
        if market not in packs.markets:
            click.echo(
                f"no rule pack for market {market}: only the generic rules run there", err=True
            )
    rows = rule_rows(packs, market)
    width = max((len(r.rule) for r in rows), default=4)
    click.echo(f"{'RULE':<{width}}  {'SEVERITY':<8}  {'MARKETS':<8}  SUMMARY")
    for row in rows:
        click.echo(f"{row.rule:<{width}}  {row.severity:<8}  {row.where:<8}  {row.summary}")
        if market is not None:
            click.echo(f"{'':<{width}}  source: {row.citation}")


@rules.command("explain")
@click.argument("rule_id")
@packs_config_option
def rules_explain(rule_id: str, config_path: Path | None) -> None:
    """Show a rule: summary, description, citations and its examples."""
    import difflib

    from compliance.links import rule_url

    packs = _packs(config_path)
    rule = packs.rules.get(rule_id)
    if rule is None:
        near = difflib.get_close_matches(rule_id, list(packs.rules), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else "; see `compliance rules list`"
        raise click.UsageError(f"unknown rule {rule_id!r}{hint}")
    m = rule.model
    markets = [code for code, pack in sorted(packs.markets.items()) if rule_id in pack.rules]
    where = "every market (generic)" if m.scope == "generic" else ", ".join(markets) or "none"
    applies = m.applies_to
    out = [
        click.style(f"{m.id}", bold=True) + f"  ({m.severity})",
        m.summary,
        "",
        m.description.rstrip(),
        "",
        f"Applies to: {', '.join(applies.kinds)}"
        + (f"; channels {', '.join(applies.channels)}" if applies.channels else "")
        + (f"; purposes {', '.join(applies.purposes)}" if applies.purposes else ""),
        f"Markets: {where}",
        f"Check: {m.check.kind}"
        + (
            " (" + ", ".join(f"{k}: {v}" for k, v in m.check.params.items()) + ")"
            if m.check.params
            else ""
        ),
        "",
        "Sources:",
        *[f"  - {c.to_citation()}" for c in m.citations],
        "",
        f"Docs: {rule_url(m.id)}",
    ]
    for label, cases in (("Passes", m.examples.pass_), ("Fails", m.examples.fail)):
        for case in cases:
            text = case if isinstance(case, str) else case.documents
            out += ["", f"{label}:", *[f"    {line}" for line in text.rstrip().splitlines()]]
    click.echo("\n".join(out))


@rules.command("test")
@click.argument(
    "directory", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option("-v", "--verbose", is_flag=True, help="List every example, not only failures.")
def rules_test(directory: Path | None, verbose: bool) -> None:
    """Run each rule's pass and fail examples through the linter.

    DIRECTORY is a pack folder (holding rules/ and markets/). Without it, the packs that
    compliance.yaml lists under `packs` are tested, else the shipped rules. Exits 1 when an
    example does not behave as its rule says.
    """
    from compliance.config import load_config
    from compliance.packs import load_packs
    from compliance.ruletest import run_examples

    folders = [directory.absolute()] if directory else load_config(None, Path.cwd()).pack_dirs()
    packs = load_packs(folders)
    chosen = None
    if folders:
        bases = [f.resolve() for f in folders]
        chosen = [
            r for r in packs.rules.values() if any(b in r.path.resolve().parents for b in bases)
        ]
        if not chosen:
            markets = [m for f in folders for m in sorted((f / "markets").glob("*.y*ml"))]
            where = " ".join(str(f) for f in folders)
            if not markets:
                raise click.UsageError(
                    f"{where}: no rules or markets found (a pack holds rules/*.yaml, "
                    "markets/*.yaml or both)"
                )
            # a pack of markets only (a layer over a shipped market): loading checked each
            # file and every rule it enables; there are no examples of its own to run
            click.echo(
                f"0 passed, 0 failed (0 rules): {len(markets)} market file(s) in {where} "
                "load, and every rule they enable exists"
            )
            return
    results = run_examples(packs, chosen)
    failed = [r for r in results if not r.ok]
    for r in results:
        if verbose or not r.ok:
            click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name}")
        if not r.ok:
            for problem in r.problems:
                click.echo(f"       {problem}")
            for finding in r.findings:
                click.echo(f"       got: {finding}")
    rules_count = len({r.rule for r in results})
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed ({rules_count} rules)")
    if failed:
        sys.exit(EXIT_FINDINGS)


@rules.command("doc")
@packs_config_option
def rules_doc(config_path: Path | None) -> None:
    """Print the rules reference as Markdown (the source of docs/rules.md)."""
    from compliance.rulesdoc import render

    click.echo(render(_packs(config_path)), nl=False)


@rules.command("kinds")
def rules_kinds() -> None:
    """Print the check kinds and their parameters as Markdown (docs/check-kinds.md)."""
    from compliance.rulesdoc import render_kinds

    click.echo(render_kinds(), nl=False)


@cli.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option(
    "--udh",
    type=click.Choice(["8bit", "16bit"]),
    default="8bit",
    show_default=True,
    help="Concatenation reference size: 16bit gives 152/66 characters per segment.",
)
def segments(text: str | None, as_json: bool, udh: str) -> None:
    """Encoding (GSM-7 or UCS-2) and SMS segment count of TEXT (default: standard input).

    One trailing newline from standard input is dropped, so `echo "Hi" | compliance segments`
    counts "Hi".
    """
    import json
    import unicodedata

    from compliance.segments import GSM7, analyze

    if text is None:
        text = sys.stdin.read()
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
    bad = next((ch for ch in text if "\udc80" <= ch <= "\udcff"), None)
    if bad is not None:  # how Python carries bytes that are not UTF-8
        raise click.UsageError(
            f"the text is not valid UTF-8 (byte 0x{ord(bad) - 0xDC00:02x}); give UTF-8 text"
        )
    info = analyze(text, udh=udh)
    if as_json:
        click.echo(json.dumps(info.to_dict(), ensure_ascii=False))
        return
    unit = "septets" if info.encoding == GSM7 else "UTF-16 code units"
    lines = [
        f"encoding:   {info.encoding}",
        f"segments:   {info.segments}",
        f"characters: {info.characters}",
        f"units:      {info.units} {unit} ({info.per_segment} per segment)",
    ]
    if info.extension:
        lines.append("extension:  " + " ".join(info.extension) + " (2 septets each)")
    for ch in info.non_gsm:
        lines.append(f"forces UCS-2: {ch!r} U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip())
    click.echo("\n".join(lines))


def _register_gate_commands() -> None:
    from compliance.gatecli import register

    register(cli)


_register_gate_commands()


def _packs(config_path: Path | None) -> Any:
    from compliance.config import load_config
    from compliance.packs import load_packs

    config = load_config(config_path, Path.cwd())
    return load_packs(config.pack_dirs())


def main(argv: list[str] | None = None) -> int:
    """Entry point: every library error becomes a message and an exit code, never a traceback."""
    from compliance.errors import ComplianceError

    try:
        cli.main(args=argv, prog_name="compliance", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except ComplianceError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_INTERNAL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as exc:  # the last line of defence: a short message, not a traceback
        return _internal_error(exc)
    return EXIT_CLEAN


def _internal_error(exc: Exception) -> int:
    from compliance.links import ISSUES

    if os.environ.get("COMPLIANCE_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    else:
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(
            f"This is a bug in compliance {__version__}. Please report it at {ISSUES} "
            "with the command you ran; set COMPLIANCE_DEBUG=1 to print the traceback.",
            err=True,
        )
    return EXIT_INTERNAL
