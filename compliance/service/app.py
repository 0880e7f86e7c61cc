"""The gate as an HTTP service: one FastAPI application around one Gate.

Every answer is what the library and the CLI answer: a check returns the decision
`compliance check` prints; writes return the audit entry that recorded them. Two rules hold
throughout:

- Fail closed. When the ledger cannot be used, a check is HTTP 200 with a deny decision
  (`ledger.error`), so that no client retries its way into a send, and a write is 503 with
  nothing written (a provider then retries the webhook, which is what keeps a STOP from being
  lost). /healthz says 503 and why.
- Every request but /healthz, /openapi.json and the provider webhooks needs a bearer key with
  the right scope; every entry written for a request says which key (or which webhook) asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from compliance import __version__
from compliance.errors import ComplianceError, LedgerError
from compliance.gate import audit
from compliance.gate import model as m
from compliance.gate.ledger.common import family
from compliance.gate.recipient import InvalidRecipient
from compliance.service import schemas as s
from compliance.service import webhooks as wh
from compliance.service.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("compliance.service")
API_BODY_LIMIT = 1024 * 1024  # a request to /v1 larger than this is 413 (a full batch: ~250 KiB)
BODY_SECONDS = 30  # a request body still arriving after this is 408 (a slow-body client)
ENV = {
    "twilio": "TWILIO_AUTH_TOKEN",
    "whatsapp_secret": "WHATSAPP_APP_SECRET",
    "whatsapp_verify": "WHATSAPP_VERIFY_TOKEN",
    "standard": "STANDARD_WEBHOOKS_SECRET",
}
TWILIO_REPLIES = ("help", "all", "none")


@dataclass(frozen=True)
class Settings:
    """What `compliance serve` is told besides the gate. Secrets come from the environment
    (from_env), never from the repo or the command line."""

    public_url: str | None = None  # the URL providers sign (behind a proxy, the request's differs)
    twilio_token: str | None = None
    whatsapp_secret: str | None = None
    whatsapp_verify_token: str | None = None
    standard_key: bytes | None = None
    twilio_replies: str = "help"
    body_seconds: float = BODY_SECONDS  # a request body still arriving after this is 408

    @classmethod
    def from_env(cls, *, public_url: str | None = None, twilio_replies: str = "help") -> Settings:
        standard = os.environ.get(ENV["standard"]) or None
        return cls(
            public_url=public_url.rstrip("/") if public_url else None,
            twilio_token=os.environ.get(ENV["twilio"]) or None,
            whatsapp_secret=os.environ.get(ENV["whatsapp_secret"]) or None,
            whatsapp_verify_token=os.environ.get(ENV["whatsapp_verify"]) or None,
            standard_key=wh.standard_key(standard) if standard else None,
            twilio_replies=twilio_replies,
        )

    def webhooks(self) -> dict[str, bool]:
        return {
            "twilio": self.twilio_token is not None,
            "whatsapp": self.whatsapp_secret is not None,
            "standard": self.standard_key is not None,
        }


bearer = HTTPBearer(auto_error=False, description="An API key: `compliance serve keys create`.")


class _Unavailable(Exception):
    """The ledger cannot record a write now: 503, nothing written (for a webhook event of
    several messages, the ones before it are kept and a retry records the rest once)."""

    def __init__(self, message: str, webhook: bool = False) -> None:
        super().__init__(message)
        self.webhook = webhook


def create_app(gate: Any, settings: Settings | None = None) -> FastAPI:
    """The application for `gate` (a Gate, which the caller opens and closes)."""
    settings = settings or Settings()
    if settings.twilio_replies not in TWILIO_REPLIES:
        raise ValueError(f"twilio_replies must be one of {', '.join(TWILIO_REPLIES)}")
    metrics = Metrics()
    faults = _Faults()
    app = FastAPI(
        title="compliance gate",
        version=__version__,
        description="Check sends against consent, do-not-contact lists, quiet hours, caps and "
        "templates, record consent and replies, and receive providers' signed inbound "
        "webhooks. Every write is audited in the ledger's hash-chained trail.",
        docs_url=None,  # the interactive pages load scripts from a CDN: not on a gate
        redoc_url=None,
        # /v1/check/ is 404, not a redirect built from the request's Host header (a client
        # following it would carry its key elsewhere)
        redirect_slashes=False,
    )
    app.state.gate = gate
    app.state.metrics = metrics
    app.state.settings = settings
    senders = _senders_by_address(gate.catalog)

    # errors ------------------------------------------------------------------------------------

    @app.exception_handler(_Unavailable)
    async def unavailable(request: Request, exc: _Unavailable) -> JSONResponse:
        metrics.ledger_errors.inc()
        faults.failed(str(exc))
        said = (
            "the ledger cannot record this message now; a retry records whatever was not"
            if exc.webhook
            else "the ledger cannot record this now, nothing was written"
        )
        return JSONResponse(
            {"detail": f"{said}: {exc}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own shape, without echoing the input back (it may be a phone number)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and request.url.path.startswith("/v1/"):
            # a body the framework could not parse (not UTF-8, nested too deep): malformed,
            # like any other malformed request
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "body_invalid"}]},
                status_code=422,
            )
        return await http_exception_handler(request, exc)

    app.add_middleware(_BodyLimit)

    # authentication ----------------------------------------------------------------------------

    def key_of(credentials: HTTPAuthorizationCredentials | None, scope: str | None) -> str:
        """The actor ("key:<id>") of a request whose key has `scope` (None: any key); 401 or
        403 otherwise; LedgerError when the ledger cannot tell."""
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "an API key is needed: Authorization: Bearer <key> (`compliance serve keys "
                "create`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = gate._db.key_for(credentials.credentials)
        if found is None:
            raise HTTPException(
                401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        if scope is not None and scope not in found["scopes"]:
            raise HTTPException(
                403,
                f"key {found['id']} lacks the {scope!r} scope this needs (it has "
                f"{', '.join(found['scopes'])})",
            )
        return f"key:{found['id']}"

    def writer(scope: str | None) -> Callable[..., str]:
        """A dependency: the actor of a request whose key has `scope` (None: any key), 503
        when the ledger cannot tell."""

        def dependency(
            credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        ) -> str:
            try:
                return key_of(credentials, scope)
            except LedgerError as exc:
                raise _Unavailable(str(exc)) from None

        return dependency

    # decisions ---------------------------------------------------------------------------------

    def decide(
        credentials: HTTPAuthorizationCredentials | None, sends: list[s.SendIn], endpoint: str
    ) -> list[m.Decision]:
        started = time.perf_counter()
        try:
            actor = key_of(credentials, "decide")
        except LedgerError as exc:
            # the key cannot be checked: a deny, as the gate's own answer would be
            reason = m.Reason(m.LEDGER_ERROR, f"the consent ledger cannot be used: {exc}")
            decisions = [m.Decision(m.DENY, (reason,)) for _ in sends]
        else:
            items = [m.Send(**send.model_dump()) for send in sends]
            with acting(actor):
                if endpoint == "check":
                    try:
                        decisions = [gate.check(items[0])]
                    except (TypeError, ValueError) as exc:
                        raise _unprocessable(exc, "body") from None
                else:
                    decisions = gate.check_many(items)
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        metrics.decided(decisions)
        for decision in decisions:
            if decision.id is None and decision.codes == [m.LEDGER_ERROR]:
                faults.failed(decision.reasons[0].message)
            elif decision.id is not None:
                faults.worked()
        return decisions

    @app.post(
        "/v1/check",
        response_model=s.DecisionOut,
        tags=["decide"],
        summary="Check one send (scope: decide)",
        description="The decision, audited before it is returned. HTTP 200 whatever the "
        "outcome: a ledger fault is a deny with reason ledger.error, never an error status "
        "a client might retry into a send.",
    )
    def check(
        send: s.SendIn, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Response:
        # the decision's own JSON (response_model documents it; a Response skips re-validating
        # what Decision.to_dict() wrote, a fifth of a request's time)
        return _json(decide(credentials, [send], "check")[0].to_dict())

    @app.post(
        "/v1/check-many",
        response_model=s.Decisions,
        tags=["decide"],
        summary="Check a batch of up to 1,000 sends in one transaction (scope: decide)",
        description="The answers check would give, in order: each send sees the ones before "
        "it (frequency caps). A send the gate cannot read is denied on its own (send.invalid).",
    )
    def check_many(
        batch: s.Batch, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Response:
        found = decide(credentials, batch.sends, "check-many")
        return _json({"decisions": [d.to_dict() for d in found]})

    # consent -----------------------------------------------------------------------------------

    @app.post(
        "/v1/consent/grant",
        response_model=s.Written,
        tags=["consent"],
        summary="Record consent (scope: consent)",
    )
    def grant(body: s.GrantIn, actor: str = Depends(writer("consent"))) -> dict[str, Any]:
        with acting(actor), writing():
            seq = gate.ledger.grant(
                subject=body.subject,
                channel=body.channel,
                scope=body.scope,
                source=body.source,
                at=body.at or gate._db.clock(),
                evidence=body.evidence,
            )
        return {"id": seq}

    @app.post(
        "/v1/consent/revoke",
        response_model=s.Written,
        tags=["consent"],
        summary="Record a withdrawal of consent (scope: consent)",
    )
    def revoke(body: s.RevokeIn, actor: str = Depends(writer("consent"))) -> dict[str, Any]:
        with acting(actor), writing():
            seq = gate.ledger.revoke(
                subject=body.subject,
                channel=body.channel,
                scope=body.scope,
                source=body.source,
                at=body.at or gate._db.clock(),
            )
        return {"id": seq}

    @app.get(
        "/v1/consent/{subject}",
        response_model=s.ConsentEvents,
        tags=["consent"],
        summary="A subject's consent events, oldest first (scope: consent)",
    )
    def show(
        subject: str = Path(max_length=320, description="+E.164 number or email address."),
        actor: str = Depends(writer("consent")),
    ) -> dict[str, Any]:
        with writing():
            events = gate.ledger.history(subject)
        return {"subject": subject, "events": events}

    @app.post(
        "/v1/inbound",
        response_model=s.InboundOut,
        tags=["consent"],
        summary="Record a reply a subject sent (scope: consent)",
        description="Its meaning (opt_out, opt_in, help, review, none) and the reply "
        "to send. For providers' webhooks, use /v1/webhooks/...",
    )
    def inbound(body: s.InboundIn, actor: str = Depends(writer("consent"))) -> dict[str, Any]:
        with acting(actor), writing():
            result = gate.ledger.inbound(
                subject=body.subject,
                text=body.text,
                channel=body.channel,
                sender=body.sender,
                at=body.at or gate._db.clock(),
            )
        return _inbound_dict(result)

    # administration ----------------------------------------------------------------------------

    @app.get(
        "/v1/reviews",
        response_model=s.Reviews,
        tags=["admin"],
        summary="Replies waiting for a person, oldest first (scope: admin)",
    )
    def reviews(
        include_resolved: bool = Query(False, alias="all", description="Resolved ones too."),
        actor: str = Depends(writer("admin")),
    ) -> dict[str, Any]:
        with writing():
            return {"reviews": gate.ledger.reviews(include_resolved=include_resolved)}

    @app.post(
        "/v1/reviews/{review}/resolve",
        response_model=s.Written,
        tags=["admin"],
        summary="Resolve a review (scope: admin)",
    )
    def resolve(
        body: s.ResolveIn,
        review: int = Path(ge=1, lt=2**63),
        actor: str = Depends(writer("admin")),
    ) -> dict[str, Any]:
        with acting(actor), writing():
            seq = gate.ledger.resolve(review, opt_out=body.opt_out, by=body.by, note=body.note)
        return {"id": seq}

    def _pause(body: s.PauseIn, actor: str, paused: bool) -> dict[str, Any]:
        with acting(actor), writing():
            action = gate.pause if paused else gate.resume
            seq = action(
                template=body.template,
                sender=body.sender,
                market=body.market.upper() if body.market else None,
                region=body.region,
                reason=body.reason,
                by=body.by,
            )
        return {"id": seq}

    @app.post(
        "/v1/pause",
        response_model=s.Written,
        tags=["admin"],
        summary="Pause a template, sender, market or region (scope: admin)",
    )
    def pause(body: s.PauseIn, actor: str = Depends(writer("admin"))) -> dict[str, Any]:
        return _pause(body, actor, True)

    @app.post(
        "/v1/resume",
        response_model=s.Written,
        tags=["admin"],
        summary="Lift a pause (scope: admin)",
    )
    def resume(body: s.PauseIn, actor: str = Depends(writer("admin"))) -> dict[str, Any]:
        return _pause(body, actor, False)

    # operations --------------------------------------------------------------------------------

    @app.get(
        "/healthz",
        response_model=s.Health,
        tags=["operations"],
        summary="Whether the gate can decide: the ledger reachable, the catalog loaded",
        responses={503: {"model": s.Health, "description": "The ledger is at fault."}},
    )
    def healthz() -> Response:
        try:
            with gate._db.reading() as conn:
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            ledger = "ok"
        except Exception as exc:  # a driver's own error too: a fault, never a 500
            ledger = m.printable(str(exc) or type(exc).__name__)
        fault = faults.recent()
        if ledger == "ok" and fault is not None:
            ledger = f"the last write failed: {fault}"
        catalog = gate.catalog
        body = {
            "status": "ok" if ledger == "ok" else "fault",
            "ledger": ledger,
            "backend": "postgresql" if getattr(gate._db, "pool", None) is not None else "sqlite",
            "catalog": {
                "digest": catalog.digest,
                "templates": len(catalog.templates),
                "senders": len(catalog.senders),
                "markets": sorted(catalog.markets),
            },
        }
        return JSONResponse(body, status_code=200 if ledger == "ok" else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=PlainTextResponse,
        summary="Prometheus metrics (any valid key)",
    )
    def metrics_text(actor: str = Depends(writer(None))) -> Response:
        return Response(metrics.text(), media_type=CONTENT_TYPE)

    # webhooks ----------------------------------------------------------------------------------

    def configured(provider: str) -> None:
        if not settings.webhooks()[provider]:
            name = {"twilio": "twilio", "whatsapp": "whatsapp_secret", "standard": "standard"}
            raise HTTPException(
                404,
                f"the {provider} webhook is not configured: set {ENV[name[provider]]} in the "
                "service's environment",
            )
        if provider == "twilio" and settings.public_url is None:
            # Twilio signs the URL configured at Twilio; the request's own URL comes from its
            # Host header, so a request signed for another deployment would pass
            raise HTTPException(
                404, "the twilio webhook needs --public-url (the URL configured at Twilio)"
            )

    def signed_url(request: Request) -> str:
        query = request.url.query  # as received (scope["query_string"]), never re-encoded
        return f"{settings.public_url}{request.url.path}" + (f"?{query}" if query else "")

    def record(
        provider: str,
        message: wh.Inbound,
        fallback_at: dt.datetime,
        also: tuple[tuple[str, str], ...] = (),
        strict: bool = True,
    ) -> m.InboundResult | None:
        """One message, recorded once (run in a worker thread). A message that cannot be
        recorded as given (a sender that is no number) is 422, or with strict=False skipped
        and logged (None)."""
        sender = senders.get((family(message.channel)[0], _address(message.to)))
        text = _weightier(message.text, message.alternative, gate.catalog)
        with acting(f"webhook:{provider}"):
            try:
                return gate.ledger.inbound(
                    subject=message.subject,
                    text=text,
                    channel=message.channel,
                    sender=sender,
                    at=message.at or fallback_at,
                    message=(provider, message.message_id),
                    replay_keys=also,
                )
            except LedgerError as exc:
                metrics.webhooks.labels(provider, "unavailable").inc()
                raise _Unavailable(str(exc), webhook=True) from None
            except (InvalidRecipient, ValueError, TypeError) as exc:
                metrics.webhooks.labels(provider, "invalid").inc()
                if strict:
                    raise _unprocessable(exc, "body") from None
                log.warning("%s message %s not recorded: %s", provider, message.message_id, exc)
                return None

    async def raw_body(request: Request) -> bytes:
        return await request.body()  # _BodyLimit has read it, and refused it if too large

    @app.post(
        "/v1/webhooks/twilio",
        tags=["webhooks"],
        summary="Twilio's inbound message webhook (signed with X-Twilio-Signature)",
        response_class=Response,
        responses={
            200: {"content": {"text/xml": {}}, "description": "TwiML: empty, or the reply"},
            403: {"description": "The signature is missing or wrong; nothing was written."},
            413: {"description": "The body is over 64 KiB."},
            503: {"description": "The ledger cannot record it; Twilio retries."},
        },
    )
    async def twilio(request: Request) -> Response:
        configured("twilio")
        body = await raw_body(request)
        try:
            fields = wh.check_twilio(
                settings.twilio_token or "",
                signed_url(request),
                body,
                request.headers.get("content-type", ""),
                request.headers.get("x-twilio-signature"),
            )
            message = wh.twilio_message(fields)
        except wh.BadSignature as exc:
            metrics.webhooks.labels("twilio", "bad_signature").inc()
            raise HTTPException(403, str(exc)) from None
        except wh.BadPayload as exc:
            metrics.webhooks.labels("twilio", "invalid").inc()
            raise _unprocessable(exc, "body") from None
        # the signature is an id too: no re-cut of the same signed request changes it
        signature = ("twilio:signature", (request.headers.get("x-twilio-signature") or "").strip())
        result = await run_in_threadpool(record, "twilio", message, gate._db.clock(), (signature,))
        assert result is not None
        metrics.webhooks.labels("twilio", "replayed" if result.replayed else "recorded").inc()
        known = gate.catalog.senders.get(
            senders.get((family(message.channel)[0], _address(message.to))) or ""
        )
        reply = _twilio_reply(
            settings.twilio_replies, message.text, result, getattr(known, "type", None)
        )
        return Response(wh.twiml(reply), media_type="text/xml")

    @app.get(
        "/v1/webhooks/whatsapp",
        tags=["webhooks"],
        summary="Meta's verification handshake (hub.verify_token)",
        response_class=PlainTextResponse,
    )
    def whatsapp_verify(
        mode: str | None = Query(None, alias="hub.mode", max_length=100),
        token: str | None = Query(None, alias="hub.verify_token", max_length=1000),
        challenge: str | None = Query(None, alias="hub.challenge", max_length=1000),
    ) -> Response:
        if settings.whatsapp_verify_token is None:
            raise HTTPException(
                404, f"the handshake is not configured: set {ENV['whatsapp_verify']}"
            )
        if not wh.check_verify_token(settings.whatsapp_verify_token, mode, token):
            metrics.webhooks.labels("whatsapp", "bad_signature").inc()
            raise HTTPException(403, "hub.verify_token does not match WHATSAPP_VERIFY_TOKEN")
        return PlainTextResponse(challenge or "")

    @app.post(
        "/v1/webhooks/whatsapp",
        tags=["webhooks"],
        summary="WhatsApp Cloud API events (signed with X-Hub-Signature-256)",
        response_class=Response,
        responses={
            200: {"description": "Empty: recorded (or nothing to record)."},
            403: {"description": "The signature is missing or wrong; nothing was written."},
            413: {"description": "The body is over 64 KiB."},
            503: {"description": "The ledger cannot record it; Meta retries."},
        },
    )
    async def whatsapp(request: Request) -> Response:
        configured("whatsapp")
        body = await raw_body(request)
        try:
            event = wh.check_meta(
                settings.whatsapp_secret or "", body, request.headers.get("x-hub-signature-256")
            )
            messages, problems = wh.whatsapp_messages(event)
        except wh.BadSignature as exc:
            metrics.webhooks.labels("whatsapp", "bad_signature").inc()
            raise HTTPException(403, str(exc)) from None
        except wh.BadPayload as exc:
            metrics.webhooks.labels("whatsapp", "invalid").inc()
            raise _unprocessable(exc, "body") from None
        for problem in problems:  # the others are recorded all the same
            metrics.webhooks.labels("whatsapp", "invalid").inc()
            log.warning("whatsapp event: %s, not recorded", problem)
        if not messages and not problems:
            metrics.webhooks.labels("whatsapp", "ignored").inc()
        for message in messages:
            result = await run_in_threadpool(
                record, "whatsapp", message, gate._db.clock(), (), False
            )
            if result is not None:
                metrics.webhooks.labels(
                    "whatsapp", "replayed" if result.replayed else "recorded"
                ).inc()
        return Response(status_code=200)

    @app.post(
        "/v1/webhooks/standard",
        tags=["webhooks"],
        summary="Any provider using Standard Webhooks (webhook-id, -timestamp, -signature)",
        response_model=s.InboundOut,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/StandardMessage"}}
                },
            }
        },
        responses={
            403: {"description": "The signature is missing, wrong or too old."},
            413: {"description": "The body is over 64 KiB."},
            503: {"description": "The ledger cannot record it; the provider retries."},
        },
    )
    async def standard(request: Request) -> dict[str, Any]:
        configured("standard")
        body = await raw_body(request)
        try:
            wh.check_standard(
                settings.standard_key or b"",
                {
                    name: request.headers.get(name)
                    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
                },
                body,
                gate._db.clock(),
            )
        except wh.BadSignature as exc:
            metrics.webhooks.labels("standard", "bad_signature").inc()
            raise HTTPException(403, str(exc)) from None
        try:
            parsed = s.StandardMessage.model_validate_json(body)
        except ValidationError as exc:
            metrics.webhooks.labels("standard", "invalid").inc()
            raise RequestValidationError(
                [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
            ) from None
        message = wh.Inbound(
            parsed.id, parsed.from_, parsed.to, parsed.channel, parsed.text, parsed.received_at
        )
        result = await run_in_threadpool(record, "standard", message, gate._db.clock())
        assert result is not None
        metrics.webhooks.labels("standard", "replayed" if result.replayed else "recorded").inc()
        return _inbound_dict(result)

    _schema_extras(app)
    return app


class _Faults:
    """The newest write the ledger failed, until one works again: /healthz reports it (a
    ledger that reads but cannot be written, on a full or read-only disk, is at fault)."""

    def __init__(self) -> None:
        self.fault: str | None = None

    def failed(self, message: str) -> None:
        self.fault = m.printable(message)

    def worked(self) -> None:
        self.fault = None

    def recent(self) -> str | None:
        return self.fault


@contextmanager
def acting(actor: str) -> Iterator[None]:
    """Every entry written meanwhile (in this thread) names `actor` (audit.ACTOR)."""
    token = audit.ACTOR.set(actor)
    try:
        yield
    finally:
        audit.ACTOR.reset(token)


@contextmanager
def writing() -> Iterator[None]:
    """The library's answers as HTTP: a bad argument 422, the ledger down 503."""
    try:
        yield
    except LedgerError as exc:
        raise _Unavailable(str(exc)) from None
    except (ComplianceError, InvalidRecipient, ValueError, TypeError) as exc:
        raise _unprocessable(exc, "body") from None


def _unprocessable(exc: Exception, where: str) -> HTTPException:
    return HTTPException(
        422, [{"loc": [where], "msg": m.printable(str(exc)), "type": "value_error"}]
    )


def _json(content: Any) -> Response:
    return Response(
        json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        media_type="application/json",
    )


def _inbound_dict(result: m.InboundResult) -> dict[str, Any]:
    return {
        "action": result.action,
        "reply": result.reply,
        "id": result.id,
        "replayed": result.replayed,
    }


def _twilio_reply(
    policy: str, text: str, result: m.InboundResult, sender_type: str | None
) -> str | None:
    """What to answer in TwiML: by default ("help") nothing where Twilio answers itself (its
    own STOP and START keywords, on a long code or toll-free number), the sender's text
    otherwise (HELP, opt-outs in words Twilio does not know, and everything to a short code);
    "all" when the team turned Twilio's handling off; "none" never."""
    if policy == "none" or not result.reply:
        return None
    if policy == "help" and wh.twilio_answers_itself(text, sender_type):
        return None
    return result.reply


_RANK = {"opt_out": 4, "review": 3, "opt_in": 2, "help": 1, "none": 0}


def _weightier(text: str, alternative: str | None, catalog: Any) -> str:
    """Of a reply's two readings (a button's label and its payload), the one that means more:
    an opt-out in either is an opt-out."""
    if not alternative:
        return text
    from compliance.gate import keywords as kw

    every = [p.keywords for p in catalog.markets.values() if p.keywords]
    ranked = [
        (_RANK.get(kw.classify(t, None, extra=every), 0), -n, t)
        for n, t in enumerate((text, alternative))
    ]
    return max(ranked)[2]


def _address(value: str | None) -> str:
    """A sender address as compared: digits and + only for numbers, lower case otherwise."""
    if not value:
        return ""
    text = value.strip()
    if "@" in text:
        return text.lower()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    return "+" + digits if digits else text


def _senders_by_address(catalog: Any) -> dict[tuple[str, str], str]:
    """A sender's id by its channel family and the address a provider names it with (the
    number messages go to): one number may be an SMS sender and a WhatsApp one."""
    found: dict[tuple[str, str], str] = {}
    for ident, sender in catalog.senders.items():
        address = getattr(sender, "address", None)
        channel = getattr(sender, "channel", None)
        if isinstance(address, str) and address and isinstance(channel, str):
            found.setdefault((family(channel)[0], _address(address)), ident)
    return found


def _schema_extras(app: FastAPI) -> None:
    """The Standard Webhooks body in the OpenAPI document (the route reads the raw body, so
    FastAPI does not list its model itself)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            found = base()
            schemas = found.setdefault("components", {}).setdefault("schemas", {})
            schemas["StandardMessage"] = s.StandardMessage.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = found
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class _BodyLimit:
    """Request bodies read whole before the application sees them, and refused (413) past
    the limit: 64 KiB for provider webhooks, 1 MiB for the API. A declared Content-Length
    over the limit is refused before anything is read."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = wh.MAX_BODY if path.startswith("/v1/webhooks/") else API_BODY_LIMIT
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, send, limit)
            return
        chunks, size = [], 0
        app = scope.get("app")
        seconds = app.state.settings.body_seconds if app is not None else BODY_SECONDS
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                response = JSONResponse(
                    {"detail": f"the request body did not arrive within {seconds:g} s"},
                    status_code=408,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: dict[str, Any], send: Any, limit: int) -> None:
    path = scope.get("path", "")
    app = scope.get("app")
    if path.startswith("/v1/webhooks/") and app is not None:
        provider = path.removeprefix("/v1/webhooks/").split("/")[0]
        if provider in ("twilio", "whatsapp", "standard"):
            app.state.metrics.webhooks.labels(provider, "too_large").inc()
    response = JSONResponse(
        {"detail": f"the request body is over {limit // 1024} KiB"}, status_code=413
    )
    await response(scope, None, send)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the service (it does not depend on the repo or ledger)."""
    from types import SimpleNamespace

    from compliance.gate.catalog import Catalog

    return create_app(SimpleNamespace(catalog=Catalog()), Settings()).openapi()
