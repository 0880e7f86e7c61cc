"""Random YAML-like input through the loader, the validator and the whole linter: never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.cli import main
from compliance.engine import lint
from compliance.loader import SourceFile, parse_bytes
from compliance.validation import validate

FIELDS = [
    "kind",
    "id",
    "channel",
    "purpose",
    "markets",
    "body",
    "variables",
    "sender",
    "consent_scope",
    "fallback",
    "suppress",
    "registrations",
    "header",
    "buttons",
    "type",
    "address",
    "consent",
    "capture",
    "expires_after",
    "rule",
    "reason",
    "expires",
]
VALUES = [
    "template",
    "sender",
    "consent_scope",
    "sms",
    "whatsapp",
    "push",
    "marketing",
    "otp",
    "[US, GB]",
    "[US",
    "{{name}}",
    "'{{1}} {x}'",
    '"\\u200b"',
    "&a [1, 2]",
    "*a",
    "*b",
    "2026-12-31",
    "P2Y",
    "null",
    "~",
    "yes",
    "0x1F",
    "!!binary aGk=",
    "|",
    ">-",
    "{",
    "}",
    "- a",
    "? x",
    "<<: *a",
    "\t",
    "\x00",
    "\ud800",
    "é’–👍",
    "---",
    "...",
    "%YAML 1.2",
]

fragment = st.one_of(
    st.sampled_from(FIELDS).map(lambda k: f"{k}: "),
    st.sampled_from(VALUES),
    st.text(max_size=20),
    st.sampled_from(["\n", "\n  ", "\n    ", "\n- ", ": ", ", ", "\n---\n", "#"]),
)
yaml_like = st.lists(fragment, max_size=60).map("".join).map(lambda s: "kind: template\n" + s)


@settings(max_examples=400, deadline=None)
@given(yaml_like)
def test_loader_and_validator_never_raise(text):
    source = parse_bytes(
        SourceFile(Path("f.yaml"), "f.yaml"), text.encode("utf-8", "surrogatepass")
    )
    for doc in source.documents:
        validated = validate(doc)
        if validated is not None:
            for problem in validated.problems:
                validated.span(problem.path, key=problem.key)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data):
    parse_bytes(SourceFile(Path("f.yaml"), "f.yaml"), b"kind: x\n" + data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(yaml_like, min_size=1, max_size=3))
def test_the_linter_never_raises_and_exits_0_1_or_2(texts):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        for i, text in enumerate(texts):
            (root / f"f{i}.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
        result = lint(["."], cwd=root)
        for finding in result.findings:
            assert finding.line >= 1 and finding.column >= 1
        assert main(["lint", str(root), "--format", "json", "-o", str(root / "out.json")]) in (
            0,
            1,
            2,
        )


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["{{a}}", "{{1}} {{2}}", "{a}", "{{b}", "’–€[]", "\u200b\u202e", "👨\u200d👩", "x" * 200]
)
template = st.fixed_dictionaries(
    {
        "kind": st.just("template"),
        "id": st.sampled_from(["t", "u", "t"]),
        "channel": st.sampled_from(["sms", "whatsapp", "push", "email"]),
        "purpose": st.sampled_from(["marketing", "transactional", "otp"]),
        "markets": st.lists(st.sampled_from(["US", "GB", "IN", "MX", "us"]), max_size=3),
        "body": texts,
        "sender": st.sampled_from(["s", "missing"]),
        "consent_scope": st.sampled_from(["c", "missing"]),
        "fallback": st.sampled_from(["t", "u", "nope"]),
    },
    optional={
        "variables": st.dictionaries(
            st.sampled_from(["a", "b", "1", "2"]),
            st.fixed_dictionaries(
                {}, optional={"example": texts, "max_length": st.integers(-1, 400)}
            ),
            max_size=3,
        ),
        "footer": texts,
        "suppress": st.lists(
            st.fixed_dictionaries(
                {
                    "rule": st.sampled_from(["sms-segments", "hidden-characters", "nope"]),
                    "reason": st.sampled_from(["because", ""]),
                    "expires": st.sampled_from(["2020-01-01", "2999-01-01"]),
                }
            ),
            max_size=2,
        ),
    },
)
CONTEXT = (
    '{"kind": "sender", "id": "s", "channel": "sms", "type": "short_code", '
    '"address": "12345", "markets": ["US"], "purposes": ["otp"]}\n---\n'
    '{"kind": "consent_scope", "id": "c", "consent": "express", "channels": ["email"]}\n'
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(template, min_size=1, max_size=4))
def test_structured_documents_reach_every_check_without_raising(docs):
    import json

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        (root / "context.yaml").write_text(CONTEXT, "utf-8")
        text = "\n---\n".join(json.dumps(d, ensure_ascii=False) for d in docs)
        (root / "t.yaml").write_text(text, "utf-8")
        result = lint(["t.yaml"], cwd=root)
        lines = text.count("\n") + 1
        for finding in result.findings:
            assert 1 <= finding.line <= lines
