"""Inbound webhooks: each provider's signature checked over the raw body, then the messages
it carries read out. Nothing here touches the ledger or the web framework, so every check is
tested on its own against the providers' published schemes.

- Twilio (`X-Twilio-Signature`): base64 HMAC-SHA1, keyed with the account's auth token, of
  the URL Twilio requested (as configured in the console: scheme, host, path and query)
  followed by each POST parameter's name and value, sorted by name. A JSON body is signed
  through its SHA-256 instead, given in the URL's `bodySHA256` parameter. Twilio's own
  validators also accept the URL with or without its default port; so does this one.
- Meta's WhatsApp Cloud API: a GET with `hub.mode=subscribe`, `hub.verify_token` and
  `hub.challenge` registers the URL; events are POSTed with `X-Hub-Signature-256:
  sha256=<hex HMAC-SHA256 of the raw body, keyed with the app secret>`.
- Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within five minutes of
  now) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several may
  be listed), keyed with the secret's bytes (`whsec_<base64>`).

Every comparison is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

MAX_BODY = 64 * 1024  # a webhook body larger than this is refused (413)
TOLERANCE = dt.timedelta(minutes=5)  # Standard Webhooks: how far webhook-timestamp may be
MAX_ID = 200  # longest provider message id accepted


class BadSignature(Exception):
    """The request is not signed by the provider (403; nothing is written)."""


class BadPayload(ValueError):
    """A signed body that cannot be read as the provider's message (422)."""


@dataclass(frozen=True)
class Inbound:
    """One inbound message a webhook carried."""

    message_id: str
    subject: str  # the sender of the message: +E.164, or as the provider gave it
    to: str | None  # our number (or address) it was sent to
    channel: str
    text: str
    at: dt.datetime | None  # when it was sent, if the provider says
    # another reading of the same reply (a button's payload beside its label): the app records
    # whichever of the two means more (an opt-out over anything else)
    alternative: str | None = None


# Twilio ---------------------------------------------------------------------------------------


def _with_and_without_port(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))
        return [url, bare]
    port = 443 if parts.scheme == "https" else 80
    netloc = f"{parts.netloc}:{port}" if host else parts.netloc
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """What Twilio sends in X-Twilio-Signature for a request to `url` with these POST
    parameters (none for a JSON body)."""
    text = url
    names = sorted({name for name, _ in params})
    for name in names:
        for value in sorted({v for n, v in params if n == name}):
            text += name + value
    digest = hmac.new(token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def check_twilio(
    token: str, url: str, body: bytes, content_type: str, signature: str | None
) -> dict[str, str]:
    """The request's parameters, once its signature is Twilio's; BadSignature otherwise."""
    if not signature:
        raise BadSignature("the request has no X-Twilio-Signature header")
    query = parse_qs(urlsplit(url).query)
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    if is_json:
        claimed = query.get("bodySHA256", [""])[0]
        if not hmac.compare_digest(
            hashlib.sha256(body).hexdigest().encode(), claimed.lower().encode()
        ):
            raise BadSignature("the body's SHA-256 is not the bodySHA256 the URL was signed with")
        params: list[tuple[str, str]] = []
    else:
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadSignature("the form body is not UTF-8") from None
        names = [name for name, _ in params]
        if len(set(names)) != len(names):
            # Twilio sends each parameter once; a repeated one is how a captured request is
            # re-cut (Body=...From+1555...&From=...&From=<victim>) into another that signs alike
            raise BadSignature("a parameter is repeated: not a request Twilio sent")
    good = any(
        hmac.compare_digest(
            twilio_signature(token, candidate, params).encode(), signature.strip().encode()
        )
        for candidate in _with_and_without_port(url)
    )
    if not good:
        raise BadSignature(
            "X-Twilio-Signature does not match: check TWILIO_AUTH_TOKEN (the primary auth "
            "token) and --public-url (the URL configured at Twilio, exactly)"
        )
    if is_json:
        try:
            found = json.loads(body)
        except (ValueError, RecursionError):
            raise BadPayload("the signed body is not JSON (or is nested too deep)") from None
        if not isinstance(found, dict):
            raise BadPayload("the signed body is not a JSON object")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in found.items()}
    return dict(params)


# a Twilio message SID: two capital letters (SM, MM) and 32 hexadecimal digits
_TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def twilio_message(fields: dict[str, str]) -> Inbound:
    """The message of a Twilio messaging webhook (an inbound SMS, MMS, WhatsApp or RCS
    message). Its SID must have Twilio's form and agree with SmsMessageSid and SmsSid where
    they are given: Twilio's signature runs names and values together without separators, so
    one signed request can be re-cut into others (a value lengthened by the next parameter);
    a SID of fixed form cannot be, and the app also treats the signature itself as an id."""
    sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
    sender = fields.get("From")
    if not sid or not sender:
        raise BadPayload("a Twilio message webhook has MessageSid and From; this has not")
    if not _TWILIO_SID.fullmatch(sid) or any(
        fields.get(name, sid) != sid for name in ("MessageSid", "SmsMessageSid", "SmsSid")
    ):
        raise BadPayload("MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)")
    channel = "sms"
    for prefix, name in (("whatsapp:", "whatsapp"), ("rcs:", "rcs")):
        if sender.startswith(prefix):
            sender, channel = sender[len(prefix) :], name
    if channel == "sms" and _int(fields.get("NumMedia")) > 0:
        channel = "mms"
    to = fields.get("To")
    if to and ":" in to:
        to = to.split(":", 1)[1]
    return Inbound(_id(sid), sender, to, channel, fields.get("Body") or "", None)


# Twilio's own keywords, answered by Twilio itself when its default opt-out handling is on,
# on long codes and toll-free numbers (single-word replies only; short codes outside a
# Messaging Service get no such handling): Twilio, "Twilio support for opt-out keywords (SMS
# STOP filtering)", support article 223134027; REVOKE and OPTOUT since 14 May 2025 (Twilio,
# "Update to FCC's SMS Opt-Out Keywords", blog post)
TWILIO_OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
TWILIO_OPT_IN = {"START", "YES", "UNSTOP"}
TWILIO_HELP = {"HELP", "INFO"}


def twilio_answers_itself(text: str, sender_type: str | None) -> bool:
    """Whether Twilio replies to this message itself by default: a message that is exactly
    one of its opt-out or opt-in keywords, to a long code or toll-free number (a short code
    outside a Messaging Service gets no such handling)."""
    return sender_type != "short_code" and text.strip().upper() in TWILIO_OPT_OUT | TWILIO_OPT_IN


def twiml(reply: str | None) -> str:
    """A TwiML answer: empty, or one message."""
    from xml.sax.saxutils import escape

    head = '<?xml version="1.0" encoding="UTF-8"?>'
    if not reply:
        return head + "<Response/>"
    return head + f"<Response><Message>{escape(reply)}</Message></Response>"


# WhatsApp Cloud API ---------------------------------------------------------------------------


def check_meta(app_secret: str, body: bytes, signature: str | None) -> Any:
    """The event's JSON, once X-Hub-Signature-256 is the app's; BadSignature otherwise."""
    if not signature:
        raise BadSignature("the request has no X-Hub-Signature-256 header")
    want = "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), signature.strip().lower().encode()):
        raise BadSignature(
            "X-Hub-Signature-256 does not match: check WHATSAPP_APP_SECRET (the app's secret)"
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadPayload("the signed body is not JSON (or is nested too deep)") from None


def whatsapp_messages(event: Any) -> tuple[list[Inbound], list[str]]:
    """The inbound messages of a WhatsApp Cloud API event (statuses and other changes carry
    none): text, a quick-reply button's text (a marketing template's "Stop promotions"), an
    interactive reply's title; and what could not be read of the others. A message that
    cannot be read never keeps the others from being recorded: Meta would send the same event
    again and again, and a STOP beside it would never be."""
    if not isinstance(event, dict):
        raise BadPayload("a WhatsApp event is a JSON object")
    found: list[Inbound] = []
    problems: list[str] = []
    for entry in _list(event.get("entry")):
        for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            to = meta.get("display_phone_number")
            for message in _list(value.get("messages")):
                if not isinstance(message, dict):
                    continue
                ident, sender = message.get("id"), message.get("from")
                if not isinstance(ident, str) or not isinstance(sender, str) or not ident:
                    problems.append("a message without an id or a from")
                    continue
                if not _ID.fullmatch(ident):
                    problems.append("a message whose id is not 1 to 200 visible ASCII characters")
                    continue
                text, alternative = _whatsapp_text(message)
                if text is None:
                    continue  # an image, a location, a reaction: nothing to read
                stamp = message.get("timestamp")
                at = _instant(stamp) if isinstance(stamp, str) else None
                digits = sender if sender.startswith("+") else "+" + sender
                number = f"+{to}" if isinstance(to, str) and _digits(to) else to
                found.append(
                    Inbound(
                        ident,
                        digits,
                        number if isinstance(number, str) else None,
                        "whatsapp",
                        text,
                        at,
                        alternative,
                    )
                )
    return found, problems


def _whatsapp_text(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """A message's text, and another reading of it: a quick-reply button's payload (what the
    business named the button: "STOP") beside its label ("No thanks"); an interactive
    reply's id beside its title."""
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return None, None
    other = None
    if kind == "text":
        body = part.get("body")
    elif kind == "button":
        body, other = part.get("text"), part.get("payload")
        if not isinstance(body, str) or not body:
            body, other = other, None
    elif kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply")
        body = reply.get("title") if isinstance(reply, dict) else None
        other = reply.get("id") if isinstance(reply, dict) else None
    else:
        return None, None
    if not isinstance(body, str):
        return None, None
    return body, other if isinstance(other, str) and other and other != body else None


def check_verify_token(expected: str, mode: str | None, token: str | None) -> bool:
    return mode == "subscribe" and hmac.compare_digest(
        expected.encode("utf-8"), (token or "").encode("utf-8")
    )


# Standard Webhooks ----------------------------------------------------------------------------


def standard_key(secret: str) -> bytes:
    """The signing key of a `whsec_<base64>` secret (or of a bare base64 one)."""
    text = secret.strip()
    if text.startswith("whsec_"):
        text = text[len("whsec_") :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "STANDARD_WEBHOOKS_SECRET is not a whsec_<base64> secret: copy it as the "
            "provider shows it"
        ) from None


def standard_signature(key: bytes, ident: str, timestamp: str, body: bytes) -> str:
    signed = ident.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def check_standard(
    key: bytes,
    headers: dict[str, str | None],
    body: bytes,
    now: dt.datetime,
) -> str:
    """The webhook-id, once the signature is good and the timestamp within the tolerance;
    BadSignature otherwise."""
    ident = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    listed = headers.get("webhook-signature")
    if not ident or not stamp or not listed:
        raise BadSignature("the request lacks webhook-id, webhook-timestamp or webhook-signature")
    sent = _instant(stamp)
    if sent is None:
        raise BadSignature("webhook-timestamp is not a time in seconds")
    if abs(now - sent) > TOLERANCE:
        raise BadSignature(
            f"webhook-timestamp is {sent.isoformat()}, more than five minutes from now (a "
            "replayed request, or a clock that is wrong)"
        )
    want = standard_signature(key, ident, stamp, body).encode()
    for given in listed.split():
        if given.startswith("v1,") and hmac.compare_digest(want, given.encode()):
            return ident
    raise BadSignature("webhook-signature does not match: check STANDARD_WEBHOOKS_SECRET")


# ----------------------------------------------------------------------------------------------


def _digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() also takes '¹' and other digits int() refuses)."""
    return text.isascii() and text.isdigit()


def _instant(stamp: str) -> dt.datetime | None:
    """Unix seconds as an aware datetime, or None for anything else (not ASCII digits, or
    outside the years the gate works with)."""
    if not _digits(stamp) or len(stamp) > 12:
        return None
    seconds = int(stamp)
    if not FIRST_SECOND <= seconds <= LAST_SECOND:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


FIRST_SECOND = 0  # 1970
LAST_SECOND = 32503680000  # 3000-01-01: far enough for any webhook


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID}}}")


def _id(value: str) -> str:
    """A provider's message id: 1 to 200 visible ASCII characters (what providers use), so
    that no two ids are stored alike."""
    if not _ID.fullmatch(value):
        raise BadPayload(f"a message id is 1 to {MAX_ID} visible ASCII characters")
    return value
