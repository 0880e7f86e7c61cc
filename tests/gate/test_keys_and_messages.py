"""What schema 4 keeps for the service, on both backends: API keys (stored as a digest, scoped,
revoked at once for every host), provider message ids (a webhook retry is answered as before
and recorded once, even when two hosts receive it at the same instant), and which key or
webhook wrote each entry."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from compliance import Gate, Send
from compliance.gate import audit
from compliance.gate.ledger import open_ledger
from tests.backends import sql
from tests.conftest import ROOT, Clock

US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 13:00 in New York
SALE = "10dlc-weekend-sale"


@pytest.fixture
def gate(ledger_at):
    gate = Gate.open(repo=US, ledger=ledger_at, create=True, clock=Clock(AT))
    yield gate
    gate.close()


def _dump(where) -> str:
    """Every table's every value, as text."""
    tables = [
        "audit_log",
        "api_keys",
        "api_key_revocations",
        "webhook_messages",
        "consent_events",
        "meta",
    ]
    return json.dumps({t: sql(where, f"SELECT * FROM {t}") for t in tables}, default=str)


def test_a_key_is_kept_as_a_digest_and_works_until_revoked(gate, ledger_at):
    db = gate._db
    made, token = db.create_key(name="billing", scopes=["decide"], by="jane@example.com")
    assert token.startswith("cmpl_") and len(token) == 48
    assert made["id"].startswith("key_") and made["scopes"] == ["decide"]
    assert token not in _dump(ledger_at)  # only its SHA-256 is stored
    assert db.key_for(token) == {"id": made["id"], "name": "billing", "scopes": ["decide"]}
    # another host (another ledger object) sees the key, and then the revocation, at once
    other = open_ledger(ledger_at)
    try:
        assert other.key_for(token)["id"] == made["id"]
        seq = db.revoke_key(made["id"], by="jane@example.com", reason="rotated")
        assert other.key_for(token) is None
    finally:
        other.close()
    assert db.key_for(token) is None
    [listed] = db.api_keys()
    assert listed["revoked"] and listed["revoked_by"] == "jane@example.com"
    assert listed["revoked_seq"] == seq
    with pytest.raises(ValueError, match="revoked already"):
        db.revoke_key(made["id"], by="jane@example.com", reason="again")
    with pytest.raises(ValueError, match="there is no key 'key_000000000000'"):
        db.revoke_key("key_000000000000", by="jane@example.com", reason="typo")
    assert db.verify().ok


@pytest.mark.parametrize(
    "token",
    ["", "cmpl_", "Bearer x", "cmpl_" + "a" * 42, "cmpl_" + "a" * 44, "x" * 10_000, "cmpl_\x00"],
)
def test_anything_but_a_known_token_is_no_key(gate, token):
    gate._db.create_key(name="ops", scopes=["admin"], by="jane@example.com")
    assert gate._db.key_for(token) is None


@pytest.mark.parametrize(
    "scopes, message",
    [([], "at least one scope"), (["decide", "root"], "unknown scope 'root'")],
)
def test_a_key_needs_known_scopes(gate, scopes, message):
    with pytest.raises(ValueError, match=message):
        gate._db.create_key(name="x", scopes=scopes, by="jane@example.com")


def test_a_webhook_message_is_recorded_once_and_answered_as_before(gate, ledger_at):
    gate.ledger.grant(
        subject="+14155550123", channel="sms", scope="us-sms-offers", source="web", at=AT
    )
    first = gate.ledger.inbound(
        subject="+14155550123",
        text="STOP",
        channel="sms",
        sender="trailhead-10dlc",
        at=AT,
        message=("twilio", "SM1"),
    )
    assert first.action == "opt_out" and not first.replayed
    assert first.reply and first.reply.startswith("Trailhead: You are unsubscribed")
    entries = sql(ledger_at, "SELECT COUNT(*) FROM audit_log")
    # the provider retries: the same answer, nothing written
    again = gate.ledger.inbound(
        subject="+14155550123",
        text="stop",
        channel="sms",
        sender="trailhead-10dlc",
        at=AT,
        message=("twilio", "SM1"),
    )
    assert (again.action, again.reply, again.id, again.replayed) == (
        "opt_out",
        first.reply,
        first.id,
        True,
    )
    assert sql(ledger_at, "SELECT COUNT(*) FROM audit_log") == entries
    # another provider's message of the same id is another message
    other = gate.ledger.inbound(
        subject="+14155550123", text="hi", channel="sms", at=AT, message=("standard", "SM1")
    )
    assert not other.replayed and other.id != first.id
    assert gate.check(Send(to="+14155550123", template=SALE, at=AT)).codes == ["consent.revoked"]
    assert gate._db.verify().ok


def test_the_same_id_for_another_meaning_or_subject_is_recorded_not_taken_for_a_retry(
    gate, ledger_at
):
    """A provider never changes a retry: the same id with another meaning, or from another
    subject, is a collision, a planted row or a re-cut of a captured request. An opt-out on
    it is recorded all the same (never lost to it), once, naming the entry it conflicts
    with; anything else (an opt-in that could re-enable a victim) is not."""
    first = gate.ledger.inbound(
        subject="+14155550123", text="hello", channel="sms", at=AT, message=("standard", "m1")
    )
    entries = sql(ledger_at, "SELECT COUNT(*) FROM audit_log")
    for _ in range(3):  # the same conflicting STOP delivered again is recorded once
        stop = gate.ledger.inbound(
            subject="+14155550123", text="STOP", channel="sms", at=AT, message=("standard", "m1")
        )
    assert stop.action == "opt_out" and stop.id != first.id
    assert sql(ledger_at, "SELECT COUNT(*) FROM audit_log")[0][0] == entries[0][0] + 1
    data = dict(sql(ledger_at, "SELECT seq, data FROM audit_log"))
    assert json.loads(data[stop.id])["conflicts_with"] == first.id
    gate.ledger.grant(subject="+14155550199", channel="sms", scope="us-sms-offers", source="web", at=AT)  # fmt: skip
    gate.ledger.inbound(
        subject="+14155550199", text="STOP", channel="sms", at=AT, message=("standard", "m2")
    )
    before = sql(ledger_at, "SELECT COUNT(*) FROM audit_log")
    # a START under the STOP's id, for the same or another subject: not recorded
    for subject in ("+14155550199", "+14155550123"):
        again = gate.ledger.inbound(
            subject=subject, text="START", channel="sms", at=AT, message=("standard", "m2")
        )
        assert again.replayed and again.action == "opt_out"
    assert sql(ledger_at, "SELECT COUNT(*) FROM audit_log") == before
    assert gate.check(Send(to="+14155550199", template=SALE, at=AT)).codes == ["consent.revoked"]
    assert gate._db.verify().ok
    # a key that was recorded before makes a message a replay whatever its own id
    one = gate.ledger.inbound(
        subject="+14155550123", text="hi", channel="sms", at=AT,
        message=("twilio", "SMa"), replay_keys=(("twilio:signature", "sig1"),),
    )  # fmt: skip
    recut = gate.ledger.inbound(
        subject="+14155550123", text="hi", channel="sms", at=AT,
        message=("twilio", "SMb"), replay_keys=(("twilio:signature", "sig1"),),
    )  # fmt: skip
    assert recut.replayed and recut.id == one.id
    with pytest.raises(ValueError, match="NUL"):
        gate.ledger.inbound(
            subject="+14155550123", text="hi", channel="sms", at=AT, message=("x", "a\x00")
        )


def test_two_hosts_receiving_the_same_retry_record_it_once(gate, ledger_at):
    """Eight ledgers (hosts) record one message id at the same instant: one entry."""
    hosts = [open_ledger(ledger_at, clock=Clock(AT)) for _ in range(8)]
    from compliance.gate.consent import ConsentLedger

    results: list = []
    errors: list = []
    start = threading.Barrier(len(hosts))

    def receive(db) -> None:
        try:
            start.wait()
            results.append(
                ConsentLedger(gate.catalog, db).inbound(
                    subject="+14155550199",
                    text="STOP",
                    channel="sms",
                    at=AT,
                    message=("twilio", "SMrace"),
                )
            )
        except Exception as exc:  # a LedgerError is a 503: the provider would retry
            errors.append(exc)

    threads = [threading.Thread(target=receive, args=(db,)) for db in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in hosts:
        db.close()
    assert len(results) + len(errors) == 8 and results
    assert sum(not r.replayed for r in results) == 1
    assert len({r.id for r in results}) == 1
    assert sql(ledger_at, "SELECT COUNT(*) FROM webhook_messages") == [(1,)]
    assert sql(ledger_at, "SELECT COUNT(*) FROM audit_log WHERE kind = 'inbound'") == [(1,)]
    assert gate._db.verify().ok


def test_every_entry_written_for_a_key_says_which(gate, ledger_at):
    token = audit.ACTOR.set("key:key_0123456789ab")
    try:
        seq = gate.ledger.grant(
            subject="+14155550123", channel="sms", scope="us-sms-offers", source="web", at=AT
        )
        decision = gate.check(Send(to="+14155550123", template=SALE, at=AT))
        batch = gate.check_many([Send(to="+14155550124", template=SALE, at=AT), "not a send"])
    finally:
        audit.ACTOR.reset(token)
    after = gate.ledger.grant(
        subject="+14155550125", channel="sms", scope="us-sms-offers", source="web", at=AT
    )
    data = dict(sql(ledger_at, "SELECT seq, data FROM audit_log"))
    for written in (seq, decision.id, batch[0].id, batch[1].id):
        assert json.loads(data[written])["via"] == "key:key_0123456789ab", written
    assert "via" not in json.loads(data[after])
    assert gate._db.verify().ok


def test_on_postgresql_only_the_owner_makes_keys(pg_roles, cli):
    """The application role reads keys but cannot add one (a stolen application password
    must not mint an admin key) nor change or remove a webhook message id."""
    from tests.pg import with_user

    app = pg_roles.ledger()
    owner = with_user(app, pg_roles.owner)
    made = cli(["serve", "keys", "create", "--name", "x", "--scope", "admin", "--by", "me",
                "--ledger", app])  # fmt: skip
    assert made.code == 2 and "permission denied for table api_keys" in made.err
    assert "Traceback" not in made.err
    made = cli(["serve", "keys", "create", "--name", "x", "--scope", "admin", "--by", "me",
                "--ledger", owner])  # fmt: skip
    assert made.code == 0, made.err
    db = open_ledger(app)
    try:
        assert db.key_for(made.out.strip())["scopes"] == ["admin"]
    finally:
        db.close()
    import psycopg

    for statement in (
        "INSERT INTO api_keys VALUES (99, 'key_x', 'x', 'admin', 'x', 'x', 'x', 1)",
        "INSERT INTO api_key_revocations VALUES (99, 'key_x', 'x', 'x', 1)",
        "UPDATE webhook_messages SET action = 'none'",
        "DELETE FROM webhook_messages",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(app, statement)


def test_the_grants_take_away_what_the_roles_held_before(pg_roles):
    """A DBA's defaults (CREATE on the schema for the application, every privilege on new
    tables, PUBLIC's use of sequences) are revoked by `compliance ledger grants`, so that a
    stolen application password can neither alter the schema nor set a sequence back."""
    import psycopg

    from compliance.gate.ledger.pg_grants import statements
    from tests.pg import with_user

    app = pg_roles.ledger()
    owner = with_user(app, pg_roles.owner)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(f'GRANT CREATE ON SCHEMA public TO "{pg_roles.app}"')
        conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{pg_roles.app}"')
        conn.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO PUBLIC")
        for line in statements(pg_roles.app, pg_roles.reader):
            if not line.startswith("--"):
                conn.execute(line)
    for statement in (
        "CREATE TABLE planted (x int)",
        "SELECT setval('audit_seq', 1)",
        "UPDATE api_keys SET scopes = 'admin'",
        "DELETE FROM consent_events",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(app, statement)
