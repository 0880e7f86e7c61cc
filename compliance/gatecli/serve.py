"""`compliance serve`: the gate over HTTP, and its API keys (`compliance serve keys ...`)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from compliance.gatecli.common import (
    DataError,
    guarded,
    ledger_option,
    open_gate,
    open_ledger,
    source_options,
)

SCOPE_HELP = (
    "decide: /v1/check and /v1/check-many; consent: grants, revocations, replies and a "
    "subject's history; admin: reviews, pauses and resumes. Repeat for several."
)


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--public-url",
    help="The origin of the URL providers call, as configured at them (e.g. "
    "https://gate.example.com): Twilio's signature covers it, and behind a proxy the URL the "
    "service sees differs. Required with TWILIO_AUTH_TOKEN.",
)
@click.option(
    "--twilio-replies",
    type=click.Choice(["help", "all", "none"]),
    default="help",
    show_default=True,
    help="What the Twilio webhook answers in TwiML. help: the sender's text for HELP and for "
    "replies Twilio does not handle itself, nothing for Twilio's own STOP and START keywords "
    "(which Twilio answers and enforces by default); all: every reply the sender has (Twilio's "
    "own handling turned off); none: never (Advanced Opt-Out answers everything).",
)
@source_options
@ledger_option()
@click.pass_context
@guarded
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    public_url: str | None,
    twilio_replies: str,
    repo: Path | None,
    bundle: Path | None,
    ledger: Path | None,
) -> None:
    """Run the gate as an HTTP service (needs `pip install "compliance[server]"`).

    Endpoints under /v1 check sends and record consent, replies, reviews and pauses; every
    one needs an API key (`compliance serve keys create`) but /healthz, /openapi.json and
    the provider webhooks under /v1/webhooks/, which the provider's signature authenticates.
    Webhook secrets come from the environment: TWILIO_AUTH_TOKEN, WHATSAPP_APP_SECRET and
    WHATSAPP_VERIFY_TOKEN, STANDARD_WEBHOOKS_SECRET; a webhook without its secret answers
    404. The README's "The gate as a service" shows curl and Python calls.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        import uvicorn

        from compliance.service.app import Settings, create_app
    except ImportError as exc:
        raise DataError(
            f"the service needs the server extra ({exc.name} is not installed): "
            'pip install "compliance[server]"'
        ) from None
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise DataError(f"--public-url {public_url!r} must start with https:// (or http://)")
    settings = Settings.from_env(public_url=public_url, twilio_replies=twilio_replies)
    if settings.twilio_token is not None and public_url is None:
        raise DataError(
            "TWILIO_AUTH_TOKEN is set but --public-url is not: Twilio signs the URL configured "
            "at Twilio, and without it the service would take the URL from each request's Host "
            "header (a request Twilio signed for another of your deployments would pass). Give "
            "--public-url https://HOST as Twilio calls it"
        )
    gate = open_gate(repo, bundle, ledger)
    active = [key for key in gate._db.api_keys() if not key["revoked"]]
    app = create_app(gate, settings)
    say = click.get_text_stream("stderr")
    hooks = [name for name, on in settings.webhooks().items() if on]
    click.echo(f"catalog {gate.catalog.digest}: {len(gate.catalog.templates)} templates", err=True)
    click.echo(
        f"webhooks: {', '.join(hooks) if hooks else 'none (their secrets are not set)'}", err=True
    )
    if not active:
        click.echo(
            "no API key yet: every /v1 request will be refused until one is made with "
            "`compliance serve keys create`",
            err=True,
        )
    say.flush()
    # uvicorn stops gracefully on SIGTERM or SIGINT, then raises the signal again as it
    # returns; with these handlers in place the command goes on to close the gate (on
    # PostgreSQL, the closing checkpoint covers the last entries) and exits 0
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stopping.append(number))
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


@serve.group()
def keys() -> None:
    """The service's API keys, kept in the ledger (every host sees a change at once)."""


@keys.command("create")
@click.option("--name", required=True, help="What uses it, e.g. billing-worker.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["decide", "consent", "admin"]),
    help=SCOPE_HELP,
)
@click.option("--by", required=True, help="Who made it, e.g. an email address (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its token as JSON.")
@ledger_option()
@guarded
def keys_create(
    name: str, scopes: tuple[str, ...], by: str, as_json: bool, ledger: Path | None
) -> None:
    """Make a key. Its token is printed once, on standard output; the ledger keeps only its
    SHA-256, so store the token in your secret manager now."""
    made, token = open_ledger(ledger).create_key(name=name, scopes=scopes, by=by)
    if as_json:
        click.echo(json.dumps({**made, "token": token}))
        return
    click.echo(token)
    click.echo(
        f"key {made['id']} ({made['name']}: {', '.join(made['scopes'])}), audit entry "
        f"{made['audit_seq']}. The token above is shown once: send it as "
        "`Authorization: Bearer <token>`.",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@ledger_option()
@guarded
def keys_list(as_json: bool, ledger: Path | None) -> None:
    """Every key, oldest first (never its token)."""
    found = open_ledger(ledger, readonly=True).api_keys()
    if as_json:
        for key in found:
            click.echo(json.dumps(key, ensure_ascii=False))
        return
    if not found:
        click.echo("no keys: make one with `compliance serve keys create`", err=True)
        return
    for key in found:
        state = (
            f"revoked by {key['revoked_by']}: {key['revoked_reason']}"
            if key["revoked"]
            else "active"
        )
        click.echo(
            f"{key['id']}  {key['name']}  [{','.join(key['scopes'])}]  made {key['created_at']} "
            f"by {key['created_by']}  {state}"
        )


@keys.command("revoke")
@click.argument("key_id")
@click.option("--by", required=True, help="Who revoked it (audited).")
@click.option("--reason", required=True, help="Why, e.g. rotated, leaked (audited).")
@ledger_option()
@guarded
def keys_revoke(key_id: str, by: str, reason: str, ledger: Path | None) -> None:
    """Revoke KEY_ID (an id from `keys list`): every host refuses it from its next request."""
    seq = open_ledger(ledger).revoke_key(key_id, by=by, reason=reason)
    click.echo(f"revoked {key_id}: audit entry {seq}")


@serve.command("openapi")
def openapi() -> None:
    """Print the service's OpenAPI document (docs/openapi.json is this, kept in the repo)."""
    try:
        from compliance.service.app import openapi_document
    except ImportError as exc:
        raise DataError(
            f"this needs the server extra ({exc.name} is not installed): "
            'pip install "compliance[server]"'
        ) from None
    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
