from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from compliance.documents import json_schema, parse_duration
from compliance.loader import SourceFile, parse_text
from compliance.validation import validate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "acme"


def documents(text: str):
    source = parse_text(SourceFile(Path("t.yaml"), "t.yaml"), text)
    return [validate(d) for d in source.documents]


def problems(text: str) -> list[tuple[int, int, str]]:
    (doc,) = documents(text)
    return sorted(
        (doc.span(p.path, key=p.key).line, doc.span(p.path, key=p.key).column, p.message)
        for p in doc.problems
    )


def test_a_valid_template_has_a_model():
    (doc,) = documents(
        "kind: template\nid: a\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: x\n"
    )
    assert doc.valid and doc.model.status == "draft"


def test_unknown_field_points_at_the_key_and_suggests_the_field():
    found = problems("kind: template\nid: a\nchanel: push\npurpose: otp\nmarkets: [US]\nbody: x\n")
    assert (3, 1, "unknown field 'chanel': did you mean 'channel'?") in found
    assert any("missing required field 'channel'" in m for _, _, m in found)


def test_wrong_type_and_bad_value_messages_name_the_field():
    found = problems(
        "kind: template\nid: Bad_Id\nchannel: sms\npurpose: marketting\nmarkets: [us]\n"
        "body: x\nsender: s\nconsent_scope: c\nvariables:\n  a: {max_length: '3'}\n"
    )
    messages = [m for _, _, m in found]
    assert any(m.startswith("id: 'Bad_Id' is not valid: ids use lower-case") for m in messages)
    assert (
        "purpose: 'marketting' is not allowed (did you mean 'marketing'?); use one of: "
        "marketing, transactional, otp" in messages
    )
    assert any(
        "'us' is not an ISO 3166-1 alpha-2 country code (use upper case)" in m for m in messages
    )
    assert "variables.a.max_length: expected a whole number, got str '3'" in messages


def test_required_when_rules():
    messages = [
        m
        for _, _, m in problems(
            "kind: template\nid: a\nchannel: sms\npurpose: marketing\nmarkets: [US]\nbody: x\n"
        )
    ]
    assert any(m.startswith("missing field 'sender'") for m in messages)
    assert any(m.startswith("missing field 'consent_scope'") for m in messages)


def test_sender_address_must_fit_its_type():
    found = problems("kind: sender\nid: s\nchannel: sms\ntype: long_code\naddress: '555-0123'\n")
    assert found == [
        (
            5,
            10,
            "address '555-0123' does not fit sender type 'long_code': "
            "expected an E.164 number such as +14155550123",
        )
    ]


def test_union_fields_report_the_deeper_problem_only():
    found = problems(
        "kind: template\nid: a\nchannel: whatsapp\npurpose: otp\nmarkets: [US]\n"
        "body: x\nsender: s\nheader: {format: gif}\n"
    )
    assert [m for _, _, m in found] == [
        "header.format: 'gif' is not allowed; use one of: text, image, video, document, location"
    ]


def test_other_tools_kinds_are_ignored_but_near_misses_are_flagged():
    assert documents("kind: Deployment\napiVersion: apps/v1\n") == [None]
    assert documents("name: no kind at all\n") == [None]
    (doc,) = documents("kind: Template\nid: a\n")
    assert doc.problems[0].message.startswith("unknown kind 'Template': did you mean 'template'?")


def test_registrations_are_typed_for_india_and_whatsapp():
    found = problems(
        "kind: template\nid: a\nchannel: sms\npurpose: otp\nmarkets: [IN]\nbody: x\nsender: s\n"
        "registrations:\n  IN: {category: promo}\n  XX: {a: 1}\n"
    )
    messages = [m for _, _, m in found]
    assert "missing required field 'dlt_template_id' in registrations.IN" in messages
    assert any(m.startswith("registrations.IN.category: 'promo' is not allowed") for m in messages)
    assert any(m.startswith("registrations key 'XX' is neither a market code") for m in messages)


def test_durations():
    assert parse_duration("P1Y6M") == {"years": 1, "months": 6, "weeks": 0, "days": 0}
    found = problems("kind: consent_scope\nid: c\nconsent: implied\nexpires_after: 2 years\n")
    assert "not an ISO 8601 duration" in found[0][2]


@pytest.mark.parametrize("kind", [None, "template", "sender", "consent_scope"])
def test_json_schema_accepts_the_clean_examples_and_rejects_typos(kind):
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        if "broken" in path.parts or path.name == "compliance.yaml":
            continue
        for doc in documents(path.read_text("utf-8")):
            if kind not in (None, doc.kind):
                continue
            data = json.loads(json.dumps(doc.data, default=str))
            assert list(validator.iter_errors(data)) == [], path
            data["typo_field"] = 1
            assert list(validator.iter_errors(data)), path
            checked += 1
    assert checked > 0


def test_a_template_not_commercial_says_why():
    base = "kind: template\nid: a\nchannel: push\npurpose: transactional\nmarkets: [CA]\nbody: x\n"
    assert problems(base + "commercial: false\ncommercial_reason: a fraud alert\n") == []
    assert problems(base + "commercial: false\n") == [
        (7, 1, "commercial: false needs commercial_reason: say why the message is not "
         "commercial (e.g. a fraud alert about the customer's own account)")
    ]  # fmt: skip
    found = problems(base + "commercial_reason: a fraud alert\n")
    assert [m for _, _, m in found] == [
        "commercial_reason is given, but commercial is not false: set commercial: false, "
        "or remove the reason"
    ]
