"""The OpenAPI document: the one served, the one `compliance serve openapi` prints and the one
kept in the repo (docs/openapi.json) are the same; and schemathesis, generating requests from
it, never gets a server error (HTTP 500) from any endpoint."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings

from compliance.service.app import create_app, openapi_document
from tests.conftest import ROOT
from tests.service.conftest import AT, make_service

schemathesis = pytest.importorskip("schemathesis", reason="the dev extra is not installed")
from schemathesis.checks import not_a_server_error  # noqa: E402

KEPT = ROOT / "docs" / "openapi.json"


def test_the_kept_document_is_the_served_one(service, cli):
    served = service.client.get("/openapi.json")
    assert served.status_code == 200  # no key needed
    kept = json.loads(KEPT.read_text())
    assert served.json() == kept, (
        "docs/openapi.json is stale: compliance serve openapi > docs/openapi.json"
    )
    assert openapi_document() == kept
    printed = cli(["serve", "openapi"])
    assert printed.code == 0 and json.loads(printed.out) == kept
    # what a client needs from it: the security scheme and the decision's shape
    assert kept["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    decision = kept["components"]["schemas"]["DecisionOut"]
    assert set(decision["required"]) == {
        "outcome",
        "allowed",
        "reasons",
        "warnings",
        "not_before",
        "id",
    }
    assert "StandardMessage" in kept["components"]["schemas"]


@pytest.fixture
def api_schema(tmp_path):
    made = make_service(tmp_path / "ledger.db", lambda: AT)
    _, token = made.gate._db.create_key(
        name="fuzz", scopes=["decide", "consent", "admin"], by="tests"
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", made.client.app)
    schema.token = token  # type: ignore[attr-defined]
    yield schema
    made.client.close()
    made.gate.close()


fuzzed = schemathesis.pytest.from_fixture("api_schema")


@fuzzed.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_the_schema_allows_is_a_server_error(case, api_schema):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_schema.token}"}, checks=[not_a_server_error]
    )


def test_create_app_refuses_an_unknown_reply_policy(service):
    from compliance.service.app import Settings

    with pytest.raises(ValueError, match="twilio_replies"):
        create_app(service.gate, Settings(twilio_replies="sometimes"))
