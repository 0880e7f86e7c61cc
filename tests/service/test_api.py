"""The /v1 API as a client in any language sees it, on both ledger backends: the decision JSON
`compliance check` prints, keys and their scopes, 422 naming the field, fail closed when the
ledger cannot be used, and which key wrote each entry."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from compliance.gate import Send
from tests.backends import sql
from tests.service.conftest import AT, SALE, US

FL = "+13055550123"  # Florida: three marketing messages a day
NY = "+14155550123"


def _grant(service, subject: str = FL) -> None:
    r = service.post(
        "/v1/consent/grant",
        {"subject": subject, "channel": "sms", "scope": "us-sms-offers", "source": "web"},
        scope="consent",
    )
    assert r.status_code == 200, r.text


def test_a_check_answers_the_json_the_cli_prints(service, cli, tmp_path, frozen):
    frozen(AT)  # the CLI's clock
    _grant(service)
    body = {"to": FL, "template": SALE, "at": AT.isoformat()}
    r = service.post("/v1/check", body)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["outcome"] == "allow" and found["allowed"] is True and found["id"] > 0
    # the same send through `compliance check` on its own ledger: the same object but its id
    ledger = tmp_path / "cli.db"
    cli(["ledger", "init", "--ledger", str(ledger)])
    cli(["consent", "grant", "--subject", FL, "--channel", "sms", "--scope", "us-sms-offers",
         "--source", "web", "--repo", str(US), "--ledger", str(ledger)])  # fmt: skip
    run = cli(["check", "--to", FL, "--template", SALE, "--at", AT.isoformat(),
               "--repo", str(US), "--ledger", str(ledger)])  # fmt: skip
    printed = json.loads(run.out)
    assert set(printed) == set(found)
    assert {**printed, "id": None} == {**found, "id": None}
    # and a deny: the reasons as the CLI gives them, each with its citation
    denied = service.post("/v1/check", {"to": NY, "template": SALE, "at": AT.isoformat()}).json()
    assert denied["outcome"] == "deny" and denied["reasons"][0]["code"] == "consent.missing"
    assert set(denied["reasons"][0]) == {"code", "message", "market", "citation"}


def test_a_batch_is_answered_in_order_and_caps_count_within_it(service):
    _grant(service)
    sends = [{"to": FL, "template": SALE, "at": AT.isoformat()} for _ in range(4)]
    sends.append({"to": FL, "template": SALE, "timezone": "Mars/Olympus_Mons"})
    r = service.post("/v1/check-many", {"sends": sends})
    assert r.status_code == 200, r.text
    outcomes = [(d["outcome"], [x["code"] for x in d["reasons"]]) for d in r.json()["decisions"]]
    assert outcomes[:4] == [("allow", [])] * 3 + [("deny", ["frequency_cap"])]
    # a send the gate cannot read is denied on its own, the rest answered
    assert outcomes[4] == ("deny", ["send.invalid"])
    assert service.post("/v1/check-many", {"sends": []}).json() == {"decisions": []}


def test_a_batch_over_1000_sends_is_refused_whole(service):
    before = service.entries()
    sends = [{"to": FL, "template": SALE}] * 1001
    r = service.post("/v1/check-many", {"sends": sends})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "sends"]
    assert "1000" in r.json()["detail"][0]["msg"]
    assert service.entries() == before


@pytest.mark.parametrize(
    "body, loc, words",
    [
        ({"template": SALE}, ["body", "to"], "Field required"),
        ({"to": FL, "template": SALE, "at": "2026-11-26T18:00:00"}, ["body", "at"], "timezone"),
        ({"to": FL, "template": SALE, "at": 1764180000}, ["body", "at"], "ISO 8601"),
        ({"to": FL, "template": SALE, "channel": "fax"}, ["body", "channel"], "sms"),
        ({"to": FL, "template": SALE, "colour": "red"}, ["body", "colour"], "Extra inputs"),
        ({"to": ["+1"], "template": SALE}, ["body", "to"], "string"),
        ({"to": FL, "template": SALE, "timezone": "Mars/Olympus_Mons"}, ["body"], "time zone"),
        ({"to": FL, "template": SALE, "at": "1800-01-01T00:00:00Z"}, ["body"], "1900"),
    ],
)
def test_a_malformed_check_is_422_naming_the_field_and_writes_nothing(service, body, loc, words):
    before = service.entries()
    r = service.post("/v1/check", body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == loc and words in detail[0]["msg"], detail
    assert FL not in r.text or "to" not in loc  # the input is not echoed back
    assert service.entries() == before


def test_a_body_that_is_not_json_is_422(service):
    r = service.client.post(
        "/v1/check",
        content=b"{not json",
        headers={**service.auth("decide"), "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_every_v1_endpoint_needs_a_key_with_its_scope(service):
    before = service.entries()
    calls = [
        ("post", "/v1/check", {"to": FL, "template": SALE}, "decide"),
        ("post", "/v1/check-many", {"sends": []}, "decide"),
        ("post", "/v1/consent/grant", {"subject": FL, "channel": "sms", "scope": "us-sms-offers", "source": "x"}, "consent"),
        ("post", "/v1/consent/revoke", {"subject": FL, "channel": "sms", "source": "x"}, "consent"),
        ("get", f"/v1/consent/{FL}", None, "consent"),
        ("post", "/v1/inbound", {"subject": FL, "text": "STOP"}, "consent"),
        ("get", "/v1/reviews", None, "admin"),
        ("post", "/v1/reviews/1/resolve", {"opt_out": True, "by": "x"}, "admin"),
        ("post", "/v1/pause", {"template": SALE, "reason": "x", "by": "x"}, "admin"),
        ("post", "/v1/resume", {"template": SALE, "reason": "x", "by": "x"}, "admin"),
    ]  # fmt: skip
    for method, path, body, scope in calls:
        send = getattr(service.client, method)
        kwargs = {"json": body} if body is not None else {}
        none = send(path, **kwargs)
        assert none.status_code == 401, (path, none.text)
        assert none.headers["www-authenticate"] == "Bearer"
        bad = send(path, headers={"Authorization": "Bearer cmpl_" + "x" * 43}, **kwargs)
        assert bad.status_code == 401, path
        basic = send(path, headers={"Authorization": "Basic dXNlcjpwdw=="}, **kwargs)
        assert basic.status_code == 401, path
        for other in {"decide", "consent", "admin"} - {scope}:
            wrong = send(path, headers=service.auth(other), **kwargs)
            assert wrong.status_code == 403, (path, other, wrong.text)
            assert f"lacks the '{scope}' scope" in wrong.json()["detail"]
    assert service.entries() == before  # nothing was written by any refused request
    assert service.client.get("/metrics").status_code == 401


def test_a_revoked_key_is_refused_at_its_next_request(service):
    key = service.gate._db.key_for(service.tokens["decide"])["id"]
    assert service.post("/v1/check", {"to": FL, "template": SALE}).status_code == 200
    service.gate._db.revoke_key(key, by="ops@example.com", reason="leaked")
    r = service.post("/v1/check", {"to": FL, "template": SALE})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]


def test_every_write_names_the_key_that_made_it(service):
    _grant(service)
    decision = service.post("/v1/check", {"to": FL, "template": SALE, "at": AT.isoformat()})
    service.post("/v1/pause", {"template": SALE, "reason": "legal", "by": "jane"}, scope="admin")
    keys = {k["name"]: k["id"] for k in service.gate._db.api_keys()}
    rows = sql(service.where, "SELECT kind, data FROM audit_log ORDER BY seq")
    via = {(kind, json.loads(data).get("via")) for kind, data in rows}
    assert ("consent.grant", f"key:{keys['consent-key']}") in via
    assert ("decision", f"key:{keys['decide-key']}") in via
    assert ("pause", f"key:{keys['admin-key']}") in via
    assert decision.json()["id"] in {
        seq for (seq,) in sql(service.where, "SELECT seq FROM audit_log")
    }
    assert service.gate._db.verify().ok


def test_consent_replies_reviews_and_pauses_over_http(service):
    _grant(service, NY)
    assert service.post("/v1/check", {"to": NY, "template": SALE, "at": AT.isoformat()}).json()[
        "allowed"
    ]
    # a doubtful reply holds marketing until a person resolves it
    r = service.post(
        "/v1/inbound",
        {"subject": NY, "text": "stop? who is this", "sender": "trailhead-10dlc"},
        scope="consent",
    )
    assert r.status_code == 200 and r.json()["action"] == "review", r.text
    [review] = service.get("/v1/reviews", scope="admin").json()["reviews"]
    assert review["subject"] == NY and review["text"] == "stop? who is this"
    held = service.post("/v1/check", {"to": NY, "template": SALE, "at": AT.isoformat()}).json()
    assert held["reasons"][0]["code"] == "consent.revoked"
    r = service.post(
        f"/v1/reviews/{review['id']}/resolve", {"opt_out": False, "by": "jane"}, scope="admin"
    )
    assert r.status_code == 200 and r.json()["id"] > 0
    assert service.get("/v1/reviews", scope="admin").json()["reviews"] == []
    assert len(service.get("/v1/reviews?all=true", scope="admin").json()["reviews"]) == 1
    again = service.post(
        f"/v1/reviews/{review['id']}/resolve", {"opt_out": True, "by": "jane"}, scope="admin"
    )
    assert again.status_code == 422 and "resolved already" in again.text
    # a STOP, then its history
    stop = service.post(
        "/v1/inbound", {"subject": NY, "text": "STOP", "sender": "trailhead-10dlc"}, scope="consent"
    )
    assert stop.json()["action"] == "opt_out" and "unsubscribed" in stop.json()["reply"]
    events = service.get(f"/v1/consent/{NY}").json()
    assert [e["action"] for e in events["events"]][-1] == "revoke"
    assert service.get("/v1/consent/not-a-number").status_code == 422
    # pauses: an unknown template is named, a pause holds every send, a resume lifts it
    unknown = service.post(
        "/v1/pause", {"template": "10dlc-weekend-sal", "reason": "x", "by": "y"}, scope="admin"
    )
    assert unknown.status_code == 422 and "did you mean '10dlc-weekend-sale'" in unknown.text
    both = service.post(
        "/v1/pause", {"template": SALE, "market": "US", "reason": "x", "by": "y"}, scope="admin"
    )
    assert both.status_code == 422 and "exactly one" in both.text
    assert (
        service.post(
            "/v1/pause", {"market": "us", "reason": "storm", "by": "ops"}, scope="admin"
        ).status_code
        == 200
    )
    _grant(service)
    paused = service.post("/v1/check", {"to": FL, "template": SALE, "at": AT.isoformat()}).json()
    assert paused["reasons"][0]["code"] == "paused"
    assert (
        service.post(
            "/v1/resume", {"market": "US", "reason": "over", "by": "ops"}, scope="admin"
        ).status_code
        == 200
    )
    assert service.post("/v1/check", {"to": FL, "template": SALE, "at": AT.isoformat()}).json()[
        "allowed"
    ]
    bad_grant = service.post(
        "/v1/consent/grant",
        {"subject": FL, "channel": "sms", "scope": "no-such-scope", "source": "web"},
        scope="consent",
    )
    assert bad_grant.status_code == 422 and "no-such-scope" in bad_grant.text


def test_healthz_and_metrics(service):
    r = service.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["catalog"]["digest"] == service.gate.catalog.digest
    _grant(service)
    service.post("/v1/check", {"to": FL, "template": SALE, "at": AT.isoformat()})
    service.post("/v1/check", {"to": NY, "template": SALE, "at": AT.isoformat()})
    text = service.get("/metrics", scope="admin").text
    assert 'compliance_decisions_total{outcome="allow"} 1.0' in text
    assert 'compliance_decisions_total{outcome="deny"} 1.0' in text
    assert 'compliance_decision_reasons_total{outcome="deny",reason="consent.missing"} 1.0' in text
    assert 'compliance_decision_seconds_count{endpoint="check"} 2.0' in text
    assert "compliance_ledger_errors_total 0.0" in text


def _hold_the_write_lock(where):
    """Another connection holds the ledger's write lock (a stuck writer): every write waits
    past the busy timeout and fails."""
    if isinstance(where, str):
        import psycopg

        conn = psycopg.connect(where)
        conn.execute("LOCK TABLE chain_heads IN ACCESS EXCLUSIVE MODE")
        return conn
    conn = sqlite3.connect(where, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_with_the_ledger_stuck_a_check_is_a_deny_and_a_write_is_503(ledger_at, clock):
    from tests.service.conftest import make_service

    made = make_service(ledger_at, clock, busy_timeout=0.2)
    try:
        before = made.entries()
        held = _hold_the_write_lock(ledger_at)
        try:
            r = made.post("/v1/check", {"to": FL, "template": SALE})
            assert r.status_code == 200
            assert r.json()["outcome"] == "deny" and r.json()["id"] is None
            assert [x["code"] for x in r.json()["reasons"]] == ["ledger.error"]
            batch = made.post("/v1/check-many", {"sends": [{"to": FL, "template": SALE}] * 3})
            assert [d["reasons"][0]["code"] for d in batch.json()["decisions"]] == [
                "ledger.error"
            ] * 3
            w = made.post(
                "/v1/consent/revoke",
                {"subject": FL, "channel": "sms", "source": "x"},
                scope="consent",
            )
            assert w.status_code == 503 and w.headers["retry-after"] == "5"
            assert "nothing was written" in w.json()["detail"]
            health = made.client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "fault"
            metrics = made.get("/metrics", scope="admin").text
            assert "compliance_ledger_errors_total 5.0" in metrics
        finally:
            held.rollback() if isinstance(ledger_at, str) else held.execute("ROLLBACK")
            held.close()
        assert made.entries() == before
        # the ledger back: the next write works, and health says so
        assert made.post("/v1/check", {"to": FL, "template": SALE}).json()["id"] is not None
        assert made.client.get("/healthz").status_code == 200
    finally:
        made.client.close()
        made.gate.close()


def test_with_the_ledger_gone_checks_are_denied_without_a_key_lookup(tmp_path, clock):
    from tests.service.conftest import make_service

    path = tmp_path / "ledger.db"
    made = make_service(path, clock)
    try:
        path.unlink()
        r = made.post("/v1/check", {"to": FL, "template": SALE})
        assert r.status_code == 200 and r.json()["reasons"][0]["code"] == "ledger.error"
        # even without a valid key: the answer is a deny that writes nothing and says nothing
        r = made.client.post(
            "/v1/check", json={"to": FL, "template": SALE}, headers={"Authorization": "Bearer x"}
        )
        assert r.status_code in (200, 401)
        if r.status_code == 200:
            assert r.json()["outcome"] == "deny"
        assert made.client.get("/healthz").status_code == 503
        w = made.post("/v1/inbound", {"subject": FL, "text": "STOP"}, scope="consent")
        assert w.status_code == 503
        assert not path.exists()  # no fresh empty ledger was made in its place
    finally:
        made.client.close()
        made.gate.close()


def test_concurrent_requests_share_one_gate(service):
    _grant(service)
    results: list[int] = []

    def hit() -> None:
        for _ in range(10):
            r = service.post("/v1/check", {"to": FL, "template": SALE, "at": AT.isoformat()})
            results.append(r.status_code)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40
    allowed = sql(
        service.where,
        "SELECT COUNT(*) FROM audit_log WHERE kind = 'decision' AND outcome = 'allow'",
    )
    assert allowed == [(3,)]  # Florida's cap held across threads
    assert service.gate._db.verify().ok


def test_request_bodies_over_a_mebibyte_are_413(service):
    big = {"sends": [{"to": FL, "template": SALE, "sender": "x" * 199}] * 1000, "pad": "x" * 2**20}
    r = service.post("/v1/check-many", big)
    assert r.status_code == 413


def test_the_send_model_matches_the_library(service):
    """Every field of Send is a field of the request, and nothing else."""
    import dataclasses

    from compliance.service.schemas import SendIn

    assert set(SendIn.model_fields) == {f.name for f in dataclasses.fields(Send)}


@pytest.mark.parametrize("bad", [b"", b"this is not a database file at all" * 200])
def test_a_ledger_file_replaced_by_a_bad_one_is_a_deny_until_it_is_back(tmp_path, clock, bad):
    """A botched restore (an empty or foreign file in the ledger's place): checks are denied
    (HTTP 200), writes 503, /healthz 503; never a 500. The good file back, all works again."""
    import shutil

    from tests.service.conftest import make_service

    path = tmp_path / "ledger.db"
    made = make_service(path, clock)
    try:
        made.gate._db.prune()  # (a write: the WAL folded into the file before it is copied)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copyfile(path, tmp_path / "good.db")
        path.unlink()
        for extra in ("-wal", "-shm"):
            (tmp_path / f"ledger.db{extra}").unlink(missing_ok=True)
        path.write_bytes(bad)
        for _ in range(3):
            r = made.post("/v1/check", {"to": FL, "template": SALE})
            assert r.status_code == 200 and r.json()["reasons"][0]["code"] == "ledger.error"
            w = made.post(
                "/v1/consent/revoke",
                {"subject": FL, "channel": "sms", "source": "x"},
                scope="consent",
            )
            assert w.status_code == 503, w.text
            assert made.get("/metrics", scope="admin").status_code == 503
            assert made.client.get("/healthz").status_code == 503
        path.unlink()
        shutil.copyfile(tmp_path / "good.db", path)
        r = made.post("/v1/check", {"to": FL, "template": SALE})
        assert r.status_code == 200 and r.json()["id"] is not None, r.text
        assert made.client.get("/healthz").status_code == 200
    finally:
        made.client.close()
        made.gate.close()


def test_a_trailing_slash_is_404_not_a_redirect_to_the_hosts_own_url(service):
    r = service.client.post(
        "/v1/check/", json={"to": FL, "template": SALE}, headers=service.auth("decide"),
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 404 and "location" not in r.headers


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000])
def test_a_body_the_framework_cannot_parse_is_422(service, body):
    r = service.client.post(
        "/v1/check", content=body,
        headers={**service.auth("decide"), "content-type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 422, r.text
