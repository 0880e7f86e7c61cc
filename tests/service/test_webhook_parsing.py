"""The webhook parsers, fuzzed: whatever a provider (or anyone) sends, reading it ends in a
message, BadSignature or BadPayload, never another exception (which would be a 500)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.service import webhooks as wh

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)
# shapes close to a real event, so that the parser goes deep
message = st.fixed_dictionaries(
    {},
    optional={
        "from": json_values | st.text(max_size=16),
        "id": json_values | st.text(max_size=30),
        "timestamp": json_values | st.text(alphabet="0123456789", max_size=14),
        "type": st.sampled_from(["text", "button", "interactive", "image", "x"]) | json_values,
        "text": json_values | st.fixed_dictionaries({"body": json_values}),
        "button": json_values
        | st.fixed_dictionaries({"text": json_values, "payload": json_values}),
        "interactive": json_values
        | st.fixed_dictionaries({"button_reply": st.fixed_dictionaries({"title": json_values})}),
    },
)
event = (
    st.fixed_dictionaries(
        {
            "entry": st.lists(
                st.fixed_dictionaries(
                    {
                        "changes": st.lists(
                            st.fixed_dictionaries(
                                {
                                    "value": st.fixed_dictionaries(
                                        {"messages": st.lists(message, max_size=3) | json_values},
                                        optional={"metadata": json_values},
                                    )
                                    | json_values
                                }
                            )
                            | json_values,
                            max_size=3,
                        )
                        | json_values
                    }
                )
                | json_values,
                max_size=3,
            )
            | json_values
        }
    )
    | json_values
)


@given(event)
@settings(max_examples=400, deadline=None)
def test_any_whatsapp_event_is_read_or_refused(found):
    try:
        messages, problems = wh.whatsapp_messages(found)
    except wh.BadPayload:
        return
    assert all(isinstance(p, str) for p in problems)
    for m in messages:
        assert m.channel == "whatsapp" and m.subject.startswith("+") and m.message_id
        assert isinstance(m.text, str)
        assert m.at is None or m.at.tzinfo is not None


@given(
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=8),
    st.sampled_from(["application/x-www-form-urlencoded", "application/json", "", "text/plain"]),
)
@settings(max_examples=300, deadline=None)
def test_any_signed_twilio_request_is_read_or_refused(params, content_type):
    from urllib.parse import urlencode

    body = urlencode(params).encode()
    url = "https://gate.example.com/v1/webhooks/twilio"
    signature = wh.twilio_signature("tok", url, params)
    try:
        fields = wh.check_twilio("tok", url, body, content_type, signature)
        message = wh.twilio_message(fields)
    except (wh.BadSignature, wh.BadPayload):
        return
    assert message.message_id and message.subject


@given(st.binary(max_size=200), st.text(max_size=20), st.text(max_size=20), st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_standard_webhook_headers_are_read_or_refused(body, ident, stamp, signature):
    key = wh.standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    now = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)
    headers = {"webhook-id": ident, "webhook-timestamp": stamp, "webhook-signature": signature}
    try:
        wh.check_standard(key, headers, body, now)
    except wh.BadSignature:
        return
    raise AssertionError("a random signature was accepted")


def test_a_signed_body_that_is_not_json_is_a_bad_payload():
    import hashlib
    import hmac

    body = b"\xff\xfe not json"
    sig = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    try:
        wh.check_meta("s", body, sig)
    except wh.BadPayload:
        pass
    else:
        raise AssertionError("accepted")
    assert json.dumps  # (json is used above for the strategies' shapes)
