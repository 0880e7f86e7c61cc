"""Providers' inbound webhooks, signed as the providers sign them: with Twilio's own validator
(twilio.request_validator), the Standard Webhooks library (standardwebhooks), and Meta's
documented HMAC. A bad or missing signature is 403 and writes nothing; a retry is answered as
before and recorded once; a body over 64 KiB is 413; the ledger down is 503 and nothing is
written, and the provider's retry then records it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from compliance.service import webhooks as wh
from tests.backends import sql
from tests.service.conftest import (
    AT,
    META_SECRET,
    SALE,
    STANDARD_SECRET,
    TWILIO_TOKEN,
    VERIFY_TOKEN,
    make_service,
)

twilio_validator = pytest.importorskip(
    "twilio.request_validator", reason="the dev extra (Twilio's own signer) is not installed"
)
standardwebhooks = pytest.importorskip(
    "standardwebhooks.webhooks",
    reason="the dev extra (the Standard Webhooks signer) is not installed",
)

NY = "+14155550123"
OUR_NUMBER = "+13125550142"  # the address of sender trailhead-10dlc (examples/us)
PUBLIC = "https://gate.example.com"


def _twilio(service, params: dict[str, str], *, url: str | None = None, sign_url: str | None = None, signature: str | None = None, token: str = TWILIO_TOKEN):  # fmt: skip
    path = "/v1/webhooks/twilio"
    signed = sign_url or (PUBLIC + path)
    sig = signature
    if sig is None:
        sig = twilio_validator.RequestValidator(token).compute_signature(signed, params)
    return service.client.post(
        url or path,
        content=urlencode(params).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": sig},
    )


def _twilio_signature(params: dict[str, str], url: str = PUBLIC + "/v1/webhooks/twilio") -> str:
    return twilio_validator.RequestValidator(TWILIO_TOKEN).compute_signature(url, params)


def _sms(text: str, sid: str = "SM00000000000000000000000000000001", frm: str = NY) -> dict[str, str]:  # fmt: skip
    return {
        "MessageSid": sid,
        "AccountSid": "AC00000000000000000000000000000000",
        "From": frm,
        "To": OUR_NUMBER,
        "Body": text,
        "NumMedia": "0",
    }


def _sid(label: str) -> str:
    """A message SID of Twilio's form (SM and 32 hex digits), one per label."""
    return "SM" + hashlib.sha256(label.encode()).hexdigest()[:32]


def _granted(service, subject: str = NY) -> None:
    service.gate.ledger.grant(
        subject=subject, channel="sms", scope="us-sms-offers", source="web", at=AT
    )


def _sale(service, subject: str = NY):
    return service.post("/v1/check", {"to": subject, "template": SALE, "at": AT.isoformat()}).json()


def test_the_signature_is_twilios_published_example():
    """Twilio's documentation signs this request with auth token 12345 so."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert wh.twilio_signature("12345", url, list(params.items())) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_a_twilio_stop_is_recorded_once_and_twilio_answers_it(service):
    _granted(service)
    assert _sale(service)["allowed"]
    r = _twilio(service, _sms("STOP"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    # Twilio answers its own STOP keyword and blocks later sends: no second confirmation
    assert r.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert _sale(service)["reasons"][0]["code"] == "consent.revoked"
    entries = service.entries()
    again = _twilio(service, _sms("STOP"))  # Twilio retries (a timeout on its side)
    assert again.status_code == 200 and again.text == r.text
    assert service.entries() == entries
    rows = sql(service.where, "SELECT provider, message_id, action FROM webhook_messages")
    signature = _twilio_signature(_sms("STOP"))
    # the message id, and the signature: no re-cut of the signed request gets past both
    assert sorted(rows) == [
        ("twilio", "SM00000000000000000000000000000001", "opt_out"),
        ("twilio:signature", signature, "opt_out"),
    ]
    [entry] = sql(service.where, "SELECT data FROM audit_log WHERE kind = 'inbound'")
    data = json.loads(entry[0])
    assert data["via"] == "webhook:twilio" and data["sender"] == "trailhead-10dlc"
    assert data["message"] == {"provider": "twilio", "id": "SM00000000000000000000000000000001"}
    assert service.gate._db.verify().ok


def test_help_and_opt_outs_twilio_does_not_know_get_the_senders_text(service):
    _granted(service)
    r = _twilio(service, _sms("HELP", sid=_sid("SM2")))
    assert "<Message>Trailhead: help at trailhead.example/help" in r.text
    r = _twilio(service, _sms("Please stop texting me", sid=_sid("SM3")))
    assert _sale(service)["reasons"][0]["code"] == "consent.revoked"
    # not a single keyword: Twilio neither blocks nor confirms, so the sender's text goes
    assert "<Message>Trailhead: You are unsubscribed" in r.text
    assert "&" not in r.text.replace("&amp;", "")  # the reply is XML-escaped


@pytest.mark.parametrize(
    "policy, text, answered",
    [("all", "STOP", True), ("none", "HELP", False), ("help", "START", False)],
)
def test_the_twilio_replies_option(ledger_at, clock, policy, text, answered):
    made = make_service(ledger_at, clock, twilio_replies=policy)
    try:
        r = _twilio(made, _sms(text))
        assert r.status_code == 200
        assert ("<Message>" in r.text) is answered, r.text
    finally:
        made.client.close()
        made.gate.close()


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong-token", "other-url", "edited-body", "not-base64", "empty"],
)
def test_a_bad_twilio_signature_is_403_and_writes_nothing(service, case):
    before = service.entries()
    params = _sms("STOP")
    if case == "missing":
        r = service.client.post("/v1/webhooks/twilio", content=urlencode(params).encode(), headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    elif case == "wrong-token":
        r = _twilio(service, params, token="54321")
    elif case == "other-url":
        r = _twilio(service, params, sign_url="https://attacker.example/v1/webhooks/twilio")
    elif case == "edited-body":
        sig = twilio_validator.RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/v1/webhooks/twilio", _sms("START"))  # fmt: skip
        r = _twilio(service, params, signature=sig)
    elif case == "not-base64":
        r = _twilio(service, params, signature="%%%")
    else:
        r = _twilio(service, params, signature="")
    assert r.status_code == 403, r.text
    assert service.entries() == before
    assert sql(service.where, "SELECT COUNT(*) FROM webhook_messages") == [(0,)]


def test_the_signed_url_is_the_public_one_with_or_without_its_port(service):
    """Behind a proxy the request arrives at http://testserver; the signature covers the
    public URL (--public-url), with the query, and Twilio may or may not write the port."""
    path = "/v1/webhooks/twilio?tenant=7"
    for n, signed in enumerate((PUBLIC + path, "https://gate.example.com:443" + path)):
        r = _twilio(service, _sms("hi", sid=_sid(f"SMport{n}")), url=path, sign_url=signed)
        assert r.status_code == 200, (signed, r.text)


def test_a_twilio_json_body_is_signed_through_its_sha256(service):
    body = json.dumps(_sms("STOP", sid=_sid("SMjson"))).encode()
    digest = hashlib.sha256(body).hexdigest()
    path = f"/v1/webhooks/twilio?bodySHA256={digest}"
    sig = twilio_validator.RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path, {})
    headers = {"content-type": "application/json", "x-twilio-signature": sig}
    r = service.client.post(path, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert sql(service.where, "SELECT action FROM webhook_messages") == [("opt_out",)] * 2
    # the same URL and signature with another body
    tampered = json.dumps(_sms("START", sid=_sid("SMjson2"))).encode()
    r = service.client.post(path, content=tampered, headers=headers)
    assert r.status_code == 403 and "bodySHA256" in r.text


def test_a_webhook_body_over_64_kib_is_413_and_writes_nothing(service):
    before = service.entries()
    params = _sms("STOP" + " " * (64 * 1024))
    r = _twilio(service, params)
    assert r.status_code == 413

    def chunks():  # a body sent without a length, growing past the limit
        yield b"Body=" + b"x" * (40 * 1024)
        yield b"x" * (40 * 1024)

    r = service.client.post(
        "/v1/webhooks/twilio",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x"},
    )
    assert r.status_code == 413
    assert service.entries() == before
    text = service.get("/metrics", scope="admin").text
    assert 'compliance_webhooks_total{provider="twilio",result="too_large"} 2.0' in text


def test_a_webhook_that_is_not_configured_is_404(ledger_at, clock):
    made = make_service(ledger_at, clock, twilio_token=None, standard_key=None)
    try:
        r = _twilio(made, _sms("STOP"))
        assert r.status_code == 404 and "TWILIO_AUTH_TOKEN" in r.json()["detail"]
        r = made.client.post("/v1/webhooks/standard", json={})
        assert r.status_code == 404 and "STANDARD_WEBHOOKS_SECRET" in r.json()["detail"]
    finally:
        made.client.close()
        made.gate.close()


def test_with_the_ledger_stuck_a_stop_is_503_then_recorded_on_the_retry(ledger_at, clock):
    from tests.service.test_api import _hold_the_write_lock

    made = make_service(ledger_at, clock, busy_timeout=0.2)
    try:
        _granted(made)
        before = made.entries()
        held = _hold_the_write_lock(ledger_at)
        try:
            r = _twilio(made, _sms("STOP", sid=_sid("SMdown")))
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
        finally:
            held.rollback() if isinstance(ledger_at, str) else held.execute("ROLLBACK")
            held.close()
        assert made.entries() == before
        r = _twilio(made, _sms("STOP", sid=_sid("SMdown")))  # Twilio's retry
        assert r.status_code == 200
        assert _sale(made)["reasons"][0]["code"] == "consent.revoked"
    finally:
        made.client.close()
        made.gate.close()


# WhatsApp Cloud API ------------------------------------------------------------------------


def _meta_event(*messages: dict, statuses: bool = False) -> dict:
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "13125550142", "phone_number_id": "1234567890"},
    }
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = [
            {"id": "wamid.S", "status": "delivered", "recipient_id": "14155550123"}
        ]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def _meta_post(service, event: dict, secret: str = META_SECRET, signature: str | None = None):
    body = json.dumps(event).encode()
    if signature is None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return service.client.post(
        "/v1/webhooks/whatsapp",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )


def _wa_text(text: str, ident: str = "wamid.1") -> dict:
    return {"from": "14155550123", "id": ident, "timestamp": str(int(AT.timestamp())), "type": "text", "text": {"body": text}}  # fmt: skip


def test_the_whatsapp_handshake(service):
    ok = service.client.get(
        "/v1/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = service.client.get(
        "/v1/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert bad.status_code == 403


def test_a_whatsapp_stop_is_recorded_once(service):
    before = service.entries()
    r = _meta_post(service, _meta_event(_wa_text("STOP")))
    assert r.status_code == 200 and r.content == b""
    rows = sql(service.where, "SELECT provider, message_id, action FROM webhook_messages")
    assert rows == [("whatsapp", "wamid.1", "opt_out")]
    [data] = sql(service.where, "SELECT data FROM audit_log WHERE kind = 'inbound'")
    assert json.loads(data[0])["channel"] == "whatsapp"
    assert json.loads(data[0])["sender"] is None  # examples/us has no WhatsApp sender
    again = _meta_post(service, _meta_event(_wa_text("STOP")))
    assert again.status_code == 200
    assert service.entries() == before + 1
    # a delivery status carries no message; a quick-reply button's text is read
    assert _meta_post(service, _meta_event(statuses=True)).status_code == 200
    button = {"from": "14155550124", "id": "wamid.2", "timestamp": "1764180000", "type": "button", "button": {"text": "Stop promotions", "payload": "STOP"}}  # fmt: skip
    assert _meta_post(service, _meta_event(button)).status_code == 200
    assert sql(
        service.where, "SELECT action FROM webhook_messages WHERE message_id = 'wamid.2'"
    ) == [("opt_out",)]


@pytest.mark.parametrize("case", ["missing", "wrong-secret", "sha1", "uppercase-prefix-edited"])
def test_a_bad_whatsapp_signature_is_403(service, case):
    before = service.entries()
    event = _meta_event(_wa_text("STOP"))
    if case == "missing":
        r = service.client.post("/v1/webhooks/whatsapp", json=event)
    elif case == "wrong-secret":
        r = _meta_post(service, event, secret="other")
    elif case == "sha1":
        body = json.dumps(event).encode()
        r = _meta_post(
            service,
            event,
            signature="sha1=" + hmac.new(META_SECRET.encode(), body, hashlib.sha1).hexdigest(),
        )
    else:
        r = _meta_post(service, event, signature="sha256=" + "0" * 64)
    assert r.status_code == 403
    assert service.entries() == before


def test_a_signed_whatsapp_body_that_is_not_an_event_is_422(service):
    r = _meta_post(service, [1, 2])
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "text", "text": {"body": "hi"}},  # no id, no from
        {"from": "1234", "id": "wamid.bad", "type": "text", "text": {"body": "hi"}},
        {"from": "abc", "id": "wamid.bad", "type": "text", "text": {"body": "hi"}},
        {"from": "14155550177", "id": "wamid.\u0000", "type": "text", "text": {"body": "STOP"}},
    ],
)
def test_an_unreadable_message_never_keeps_a_stop_beside_it_from_being_recorded(service, bad):
    """Meta batches messages and retries an event as it was: a 422 for one bad message would
    lose every STOP beside it, on every retry."""
    stop = _wa_text("STOP", ident="wamid.stop")
    for event in (_meta_event(bad, stop), _meta_event(stop, bad)):
        r = _meta_post(service, event)
        assert r.status_code == 200, r.text
    assert sql(service.where, "SELECT message_id, action FROM webhook_messages") == [
        ("wamid.stop", "opt_out")
    ]
    text = service.get("/metrics", scope="admin").text
    assert 'compliance_webhooks_total{provider="whatsapp",result="invalid"} 2.0' in text


def test_a_buttons_payload_counts_beside_its_label(service):
    """A quick-reply button labelled "No thanks" whose payload is STOP is an opt-out."""
    button = {"from": "14155550123", "id": "wamid.b", "timestamp": "1764180000", "type": "button", "button": {"text": "No thanks", "payload": "STOP"}}  # fmt: skip
    assert _meta_post(service, _meta_event(button)).status_code == 200
    assert sql(service.where, "SELECT action FROM webhook_messages") == [("opt_out",)]


# Standard Webhooks -------------------------------------------------------------------------


def _standard(service, body: dict, *, msg_id: str = "msg_1", at: dt.datetime = AT, secret: str = STANDARD_SECRET):  # fmt: skip
    data = json.dumps(body)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, at, data)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return service.client.post("/v1/webhooks/standard", content=data.encode(), headers=headers)


def test_a_standard_webhook_is_recorded_once_and_answers_the_reply(service):
    _granted(service)
    body = {"id": "in_1", "from": NY, "to": OUR_NUMBER, "channel": "sms", "text": "HELP", "received_at": AT.isoformat()}  # fmt: skip
    r = _standard(service, body)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "help" and r.json()["reply"].startswith("Trailhead: help")
    assert r.json()["replayed"] is False
    again = _standard(service, body, msg_id="msg_2")  # redelivered under another webhook-id
    assert again.json() == {**r.json(), "replayed": True}
    stop = _standard(service, {**body, "id": "in_2", "text": "STOP"}, msg_id="msg_3")
    assert stop.json()["action"] == "opt_out"
    assert _sale(service)["reasons"][0]["code"] == "consent.revoked"


@pytest.mark.parametrize("case", ["old", "future", "wrong-secret", "missing-id"])
def test_a_bad_standard_webhook_is_403(service, case):
    before = service.entries()
    body = {"id": "in_1", "from": NY, "text": "STOP"}
    if case == "old":
        r = _standard(service, body, at=AT - dt.timedelta(minutes=6))
    elif case == "future":
        r = _standard(service, body, at=AT + dt.timedelta(minutes=6))
    elif case == "wrong-secret":
        r = _standard(service, body, secret="whsec_" + "QUJD" * 8)
    else:
        r = service.client.post("/v1/webhooks/standard", json=body, headers={"webhook-timestamp": "1", "webhook-signature": "v1,x"})  # fmt: skip
    assert r.status_code == 403, r.text
    assert service.entries() == before


def test_a_signed_standard_body_missing_a_field_is_422_naming_it(service):
    r = _standard(service, {"id": "in_1", "text": "STOP"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "from"]
    r = _standard(service, {"id": "in_1", "from": NY, "text": "STOP", "channel": "fax"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "channel"]


@pytest.mark.parametrize("stamp", ["999999999999", "²", "-1", "1e9", ""])
def test_an_impossible_standard_timestamp_is_403_not_a_crash(service, stamp):
    headers = [
        (b"webhook-id", b"msg_1"),
        (b"webhook-timestamp", stamp.encode("latin-1")),  # as raw bytes reach the server
        (b"webhook-signature", b"v1,x"),
        (b"content-type", b"application/json"),
    ]
    r = service.client.post("/v1/webhooks/standard", content=b"{}", headers=headers)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    "sender, stored",
    [
        ("14155550150", "+14155550150"),  # international form without its +
        ("+16245550123", "+16245550123"),  # a range the numbering data does not know (yet)
        ("16245550123", "+16245550123"),  # both
        # a US number in national form, to no known sender: never guessed into one country
        # (it is also +32 12345678, Belgian): recorded for every reading
        ("3212345678", "+13212345678"),
    ],
)
def test_a_stop_from_a_number_read_loosely_is_recorded_not_refused(service, sender, stored):
    """A reply's sender is read leniently (a STOP is never lost for want of reading it):
    sends to the number are judged strictly, and once the number is known its STOP holds."""
    body = {"id": f"in_{sender}", "from": sender, "text": "STOP"}
    r = _standard(service, body, msg_id=f"msg_{sender}")
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "opt_out"
    found = sql(service.where, "SELECT subject FROM consent_events WHERE action = 'revoke'")
    assert (stored,) in found


def test_twilio_revoke_and_optout_are_twilios_own_and_a_short_code_gets_the_senders_text(
    ledger_at, clock
):
    made = make_service(ledger_at, clock)
    try:
        for n, word in enumerate(("REVOKE", "OPTOUT")):
            r = _twilio(made, _sms(word, sid=_sid(word), frm=f"+1415555016{n}"))
            assert r.text.endswith("<Response/>"), (word, r.text)  # Twilio confirms these
        params = {**_sms("STOP", sid=_sid("short")), "To": "48213"}
        r = _twilio(made, params)
        # a short code outside a Messaging Service: Twilio neither answers nor blocks
        assert "<Message>Trailhead" in r.text, r.text
    finally:
        made.client.close()
        made.gate.close()


def test_without_a_public_url_the_twilio_webhook_is_off(ledger_at, clock):
    made = make_service(ledger_at, clock, public_url=None)
    try:
        r = _twilio(made, _sms("STOP"))
        assert r.status_code == 404 and "--public-url" in r.text
    finally:
        made.client.close()
        made.gate.close()


def test_a_repeated_parameter_is_refused_and_writes_nothing(service):
    """A captured request re-cut with a repeated From (the last one wins in a dict) to opt a
    victim back in: the signed text is the same, but Twilio never repeats a parameter."""
    victim = "+14155550123"
    _granted(service, victim)
    service.gate.ledger.inbound(subject=victim, text="STOP", channel="sms", at=AT)
    captured = _sms("START From" + victim, sid=_sid("attacker"), frm="+14155550999")
    sig = _twilio_signature(captured)
    recut = [(k, v) for k, v in captured.items() if k not in ("Body", "From")]
    recut += [("Body", "START"), ("From", "+14155550999"), ("From", victim)]
    before = service.entries()
    r = service.client.post(
        "/v1/webhooks/twilio",
        content=urlencode(recut).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": sig},
    )
    assert r.status_code == 403 and "repeated" in r.text
    assert service.entries() == before
    assert _sale(service, victim)["reasons"][0]["code"] == "consent.revoked"


def test_a_signed_body_nested_too_deep_is_422(service):
    r = _meta_post(service, {"entry": [[[[[]]]]]})
    assert r.status_code in (200, 422)
    body = b"[" * 100_000 + b"]" * 100_000
    sig = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = service.client.post(
        "/v1/webhooks/whatsapp",
        content=body[: 60 * 1024],
        headers={"content-type": "application/json", "x-hub-signature-256": sig},
    )
    assert r.status_code == 403  # (the signature is of the whole body)
    deep = b"[" * 30_000 + b"]" * 30_000
    sig = "sha256=" + hmac.new(META_SECRET.encode(), deep, hashlib.sha256).hexdigest()
    r = service.client.post(
        "/v1/webhooks/whatsapp",
        content=deep,
        headers={"content-type": "application/json", "x-hub-signature-256": sig},
    )
    assert r.status_code == 422, r.text


def test_a_recut_twilio_request_is_refused_and_writes_nothing(service):
    """Twilio's signature runs names and values together: a captured request re-cut so that
    MessageSid takes in the next parameter signs alike. Its SID is no SID: 422, nothing
    written; and the signature itself is recorded as an id, so no re-cut gets past it."""
    _granted(service)
    captured = {**_sms("START", sid=_sid("captured")), "MessagingServiceSid": "MG" + "2" * 32}
    assert _twilio(service, captured).status_code == 200
    before = service.entries()
    recut = dict(captured)
    recut["MessageSid"] = (
        captured["MessageSid"] + "MessagingServiceSid" + captured["MessagingServiceSid"]
    )
    del recut["MessagingServiceSid"]
    sig = _twilio_signature(captured)
    assert _twilio_signature(recut) == sig  # the same signed text
    r = _twilio(service, recut, signature=sig)
    assert r.status_code == 422 and "SID" in r.text
    assert service.entries() == before
