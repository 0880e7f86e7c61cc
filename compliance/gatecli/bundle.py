"""`compliance bundle`: build, sign and check the bundle production loads."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compliance.gatecli.common import EXIT_NO, EXIT_OK, DataError


def _bundle_call(action: Callable[[], Any]) -> Any:
    from compliance.errors import BundleError

    try:
        return action()
    except (BundleError, ValueError) as exc:
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
    type=click.Path(path_type=Path),
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
    if repo is None:
        from compliance.gatecli.common import repo_root

        repo = repo_root()
        if repo is None:
            raise DataError(
                f"no template repo found at or above {Path.cwd()}: run the command inside one "
                "(a folder with compliance.yaml, or below it), or pass --repo"
            )
    root = repo
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
