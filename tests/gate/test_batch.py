"""check_many() reads a batch's ledger state up front and caches what sends share; its answers
must be exactly those of check() called send by send, in order, with nothing cached."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import Gate, Send
from compliance.gate.catalog import from_repo
from compliance.gate.ledger import open_ledger
from tests.conftest import Clock, Repo
from tests.gate.test_gate import IMPLIED, SALE, SCOPE, SENDER, SHIPPED

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NUMBERS = (
    "+13055550123",  # Miami: FL window and cap
    "+13055550124",
    "+14155550123",  # San Francisco
    "+12125550123",  # New York
    "+16475550123",  # Toronto: not a US number
    "+15555550123",  # not a valid number
    "+13055550125",  # Miami, with nothing but consent on record
    "+14155550124",  # San Francisco, the same
)
TEMPLATES = ("sale", "shipped", "implied-sale", "draft", "nope")
INSTANTS = [
    START + dt.timedelta(days=d, hours=h, minutes=m)
    for d, h, m in ((0, 2, 59), (0, 3, 0), (0, 15, 59), (0, 16, 1), (1, 0, 0), (2, 10, 30))
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    repo = Repo(tmp_path_factory.mktemp("repo"))
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/offers.yaml", SCOPE)
    repo.write("scopes/implied.yaml", IMPLIED)
    repo.write("templates/sale.yaml", SALE)
    repo.write("templates/shipped.yaml", SHIPPED)
    repo.write(
        "templates/draft.yaml",
        SHIPPED.replace("id: shipped", "id: draft").replace("status: approved", "status: draft"),
    )
    repo.write(
        "templates/implied.yaml",
        SALE.replace("id: sale", "id: implied-sale").replace(
            "consent_scope: sms-offers", "consent_scope: implied-offers"
        ),
    )
    return from_repo(repo.path)


def gate_at(catalog, where: Path | str) -> Gate:
    return Gate(catalog, open_ledger(where, create=True, clock=Clock(START - dt.timedelta(days=2))))


@pytest.fixture
def new_ledger(backend, request):
    """Where the batch-answering gate's ledger is: a file in the folder given, or a new
    PostgreSQL database (the reference, answering send by send, is on SQLite either way)."""
    if backend == "sqlite":
        return lambda folder, name: Path(folder) / f"{name}.db"
    make = request.getfixturevalue("pg_database_factory")
    return lambda folder, name: make()


def setup(gate: Gate) -> None:
    """The same history in every ledger: grants, a revoke, a STOP, a doubtful reply, lists,
    each recorded when it happens; then the clock stands before the sends (which are judged at
    their own instants, up to three days on)."""
    day = dt.timedelta(days=1)
    clock = gate._db.clock
    clock.now = START + 3 * day
    for number in (*NUMBERS[:4], *NUMBERS[6:]):
        gate.ledger.grant(
            subject=number, channel="sms", scope="sms-offers", source="web", at=START - day
        )
    gate.ledger.grant(
        subject=NUMBERS[2], channel="sms", scope="implied-offers", source="web", at=START - day
    )
    gate.ledger.revoke(
        subject=NUMBERS[1], channel="sms", scope="sms-offers", source="call", at=START + day
    )
    gate.ledger.inbound(subject=NUMBERS[3], text="STOP", channel="sms", at=START + 2 * day)
    gate.ledger.inbound(subject=NUMBERS[2], text="stop? who", channel="sms", at=START + day)
    gate.ledger.import_dnc("internal", [NUMBERS[4]])
    gate.ledger.import_reassigned([(NUMBERS[0], START + 2 * day)])
    clock.now = START - dt.timedelta(hours=1)


sends = st.lists(
    st.builds(
        Send,
        to=st.sampled_from(NUMBERS),
        template=st.sampled_from(TEMPLATES),
        # few instants, so that sends of one batch share them (and the cached answers): around
        # the window edges in Miami, Los Angeles and Tokyo, and after the ledger's later events
        at=st.sampled_from(INSTANTS),
        timezone=st.sampled_from([None, None, "America/Los_Angeles", "Asia/Tokyo"]),
        market=st.sampled_from([None, None, None, "CA"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=sends, cuts=st.lists(st.integers(1, 25), min_size=1, max_size=5))
def test_check_many_answers_as_check_does(catalog, new_ledger, batch, cuts):
    with tempfile.TemporaryDirectory() as tmp:
        one = gate_at(catalog, Path(tmp) / "one.db")
        many = gate_at(catalog, new_ledger(tmp, "many"))
        try:
            setup(one)
            setup(many)
            expected = []
            for send in batch:
                one.rules._windows.clear()  # the reference works every window out afresh
                expected.append(one.check(send))
            got, i, k = [], 0, 0
            while i < len(batch):  # the batch cut into chunks of the drawn sizes
                size = cuts[k % len(cuts)]
                got += many.check_many(batch[i : i + size])
                i, k = i + size, k + 1
            assert [(d.outcome, d.codes, d.not_before) for d in got] == [
                (d.outcome, d.codes, d.not_before) for d in expected
            ]
            assert [d.warnings for d in got] == [d.warnings for d in expected]
            assert [d.reasons for d in got] == [d.reasons for d in expected]
            assert many._db.verify().ok
        finally:
            one.close()
            many.close()


def test_sends_of_one_minute_keep_their_own_time_zones(catalog, tmp_path):
    gate = gate_at(catalog, tmp_path / "ledger.db")
    setup(gate)
    noon_miami = START + dt.timedelta(hours=7)  # 17:00 UTC: 02:00 in Tokyo
    batch = [
        Send(to=NUMBERS[6], template="sale", at=noon_miami, timezone="Asia/Tokyo"),
        Send(to=NUMBERS[6], template="sale", at=noon_miami),
        Send(
            to=NUMBERS[6],
            template="sale",
            at=noon_miami + dt.timedelta(seconds=30),
            timezone="Asia/Tokyo",
        ),
    ]
    assert [d.outcome for d in gate.check_many(batch)] == ["defer", "allow", "defer"]
    gate.close()


def test_a_large_batch_answers_as_check_does(catalog, tmp_path, new_ledger):
    # a campaign-sized batch, every kind of answer in it: still check()'s, send by send
    import random

    rng = random.Random(7)
    batch = [
        Send(
            to=rng.choice(NUMBERS),
            template=rng.choice(TEMPLATES),
            at=rng.choice(INSTANTS),
            timezone=rng.choice([None, None, "Asia/Tokyo"]),
        )
        for _ in range(537)
    ]
    one, many = (
        gate_at(catalog, tmp_path / "one.db"),
        gate_at(catalog, new_ledger(tmp_path, "many")),
    )
    try:
        setup(one)
        setup(many)
        expected = []
        for send in batch:
            one.rules._windows.clear()
            expected.append(one.check(send))
        got = many.check_many(batch)
        assert [(d.outcome, d.reasons, d.not_before) for d in got] == [
            (d.outcome, d.reasons, d.not_before) for d in expected
        ]
        assert {d.outcome for d in got} >= {"allow", "deny", "defer"}
        assert many._db.verify().ok
    finally:
        one.close()
        many.close()
