"""The gate against an independent model of its decision (tests/gate/reference_model.py), driven
by hypothesis stateful testing: sequences of grants, revocations, replies in varied wording and
spelling, reviews and their resolution, do-not-contact and registry imports, reassigned numbers,
pauses, erasure, and sends on every channel at varied times and zones, one by one, in batches and
from threads sharing one Gate. After every decision: the gate never allows what the model denies
or defers. At the end of every sequence: the ledger verifies.

The bounded run here is part of the suite. The soak is one command:

    COMPLIANCE_SOAK=1 python -m pytest tests/gate/test_model.py -n 0

(COMPLIANCE_SOAK=N multiplies the number of sequences; each is up to 60 steps.)
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from compliance import Gate, Send, UsageError
from compliance.documents import CHANNELS
from compliance.gate.catalog import from_repo
from compliance.gate.ledger import open_ledger
from tests.conftest import ROOT, Clock, Repo
from tests.gate.reference_model import Model

SOAK = int(os.environ.get("COMPLIANCE_SOAK", "0") or 0)
START = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.timezone.utc)  # 11:00 in New York, a Wednesday

PHONES = {
    "+13055550123": "US-FL",
    "+14155550123": "US-CA",
    "+12145550123": "US-TX",
    "+12125550123": "US-NY",
    "+16475550123": "CA",
    "+447400123456": "GB",
    "+4915112345678": "DE",
    "+33612345678": "FR",
    "+919812345678": "IN",
    "+6581234567": "SG",
    "+61412345678": "AU",
    "+5511987654321": "BR",
}
ADDRESSES = ["ana@example.com", "Ana@Example.COM", "bo@example.org"]
# other spellings of the same numbers: a STOP recorded under one must stop sends to the other
SPELLINGS = {"+13055550123": "+1 305-555-0123", "+33612345678": "+33 6 12 34 56 78"}
SUBJECTS = [*PHONES, *SPELLINGS.values(), *ADDRESSES]
ZONES = [
    None,
    None,
    None,
    "America/Los_Angeles",
    "Europe/Paris",
    "Asia/Kolkata",
    "Pacific/Auckland",
]

# replies, with what a person means by them, whatever the market
OPT_OUTS = [
    "STOP",
    "stop",
    " Stop! ",
    "S T O P",
    "ＳＴＯＰ",
    "SТОР",
    "UNSUBSCRIBE",
    "unsubscribe",
    "Stop.",
    "🛑 STOP 🛑",
    "CANCEL",
    "quit",
    "END",
    "Opt out",
]
REVIEWS = ["stop? who is this", "STOP sending at night maybe", "can I stop the weekly ones?"]
NOTHING = ["thanks!", "what time is my appointment", "ok", "YES", "HELP"]
LOCAL = {"DE": ["STOPP", "ABMELDEN"], "FR": ["ARRET"], "BR": ["SAIR", "PARE"], "CA": ["ARRET"]}


def _catalog_repo(root: Path) -> Path:
    """Every example repo's documents in one repo (the first of two documents with one id)."""
    repo = Repo(root)
    repo.write("compliance.yaml", 'packs: [pack]\nexclude: ["pack/**"]\n')
    seen: set[str] = set()
    for example in sorted((ROOT / "examples").iterdir()):
        for path in sorted(example.rglob("*.yaml")):
            rel = path.relative_to(example)
            if rel.parts[0] == "pack":
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(path.read_text("utf-8"), "utf-8")
                continue
            if rel.parts[0] not in ("senders", "scopes", "templates"):
                continue
            text = path.read_text("utf-8")
            ident = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in text.splitlines()
                    if line.startswith("id:")
                ),
                None,
            )
            kind = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in text.splitlines()
                    if line.startswith("kind:")
                ),
                None,
            )
            if ident is None or (kind, ident) in seen:
                continue
            seen.add((kind, ident))
            target = root / example.name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
    return root


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return from_repo(_catalog_repo(tmp_path_factory.mktemp("all-examples")))


def _meaning(text: str, subject: str, channel: str, catalog) -> str:
    """What the reply means, as the market file and the fallback words say."""
    if text in OPT_OUTS:
        return "opt_out"
    if text in REVIEWS:
        return "review"
    canonical = {spelled: number for number, spelled in SPELLINGS.items()}.get(subject, subject)
    market = PHONES.get(canonical, "")[:2] or None
    for code, words in LOCAL.items():
        if text in words:
            if market is None or market == code or (code in ("DE", "FR") and market == "EU"):
                return "opt_out"
            return "review"  # another market's word: might be an opt-out
    if text == "START":
        params = catalog.markets.get(market or "")
        words = params.keywords.opt_in if params and params.keywords else []
        return "opt_in" if "START" in words else "none"
    return "none"


class GateAgainstModel(RuleBasedStateMachine):
    catalog = None  # set by the test below
    new_ledger = None  # and where each run's ledger is: a fresh file or PostgreSQL database

    @initialize(tmp=st.just(None))
    def open(self, tmp) -> None:
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        self.clock = Clock(START)
        catalog = type(self).catalog
        where = type(self).new_ledger() or Path(self.folder.name) / "ledger.db"
        self.gate = Gate(catalog, open_ledger(where, create=True, clock=self.clock))
        self.model = Model(
            templates=list(catalog.templates.values()),
            senders=list(catalog.senders.values()),
            scopes=list(catalog.scopes.values()),
            lint_errors={tuple(key.split(":", 1)) for key in catalog.lint_errors},
            markets=catalog.markets,
        )
        self.templates = sorted(catalog.templates)
        self.scopes = sorted(catalog.scopes)
        # templates that can be allowed at all: approved, lint clean, with a consent scope
        self.sendable = [
            t.id
            for t in catalog.templates.values()
            if t.status == "approved" and not catalog.errors("template", t.id)
        ]
        self.granted: list[tuple[str, str]] = []  # (template, subject) with consent given
        self.decisions = 0

    def teardown(self) -> None:
        if hasattr(self, "gate"):
            verdict = self.gate._db.verify()
            self.gate.close()
            self.folder.cleanup()
            assert verdict.ok, verdict

    # time ------------------------------------------------------------------------------------

    @rule(minutes=st.integers(1, 600) | st.integers(600, 60 * 24 * 45) | st.just(60 * 24 * 800))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    # consent ----------------------------------------------------------------------------------

    @rule(
        subject=st.sampled_from(SUBJECTS),
        channel=st.sampled_from(CHANNELS),
        scope=st.data(),
        shift=st.integers(-3 * 24 * 60, 120),
    )
    def grant(self, subject, channel, scope, shift) -> None:
        scope_id = scope.draw(st.sampled_from(self.scopes))
        # a grant dated ahead takes effect when it is recorded
        self.grant_one(subject, channel, scope_id, self.clock.now + dt.timedelta(minutes=shift))

    @rule(pick=st.data(), days=st.integers(0, 400))
    def consent_for_a_template(self, pick, days) -> None:
        """Consent that lets a clean template through: its scope, on its channel, from someone
        in one of its markets (most sends would otherwise be denied for want of consent)."""
        catalog = type(self).catalog
        template = catalog.templates[pick.draw(st.sampled_from(self.sendable))]
        if template.channel in ("sms", "mms", "whatsapp", "rcs"):
            people = [n for n, where in PHONES.items() if where[:2] in template.markets]
        else:
            people = ADDRESSES
        if not people:
            return
        subject = pick.draw(st.sampled_from(people))
        at = self.clock.now - dt.timedelta(days=days)
        if template.consent_scope:
            self.grant_one(subject, template.channel, template.consent_scope, at)
        self.granted.append((template.id, subject))

    def grant_one(self, subject: str, channel: str, scope: str, at: dt.datetime) -> None:
        try:
            self.gate.ledger.grant(
                subject=subject, channel=channel, scope=scope, source="test", at=at
            )
        except (TypeError, ValueError):
            event("grant refused")
            return
        self.model.grant(subject, channel, scope, at=at, recorded=self.clock.now)

    @rule(
        subject=st.sampled_from(SUBJECTS),
        channel=st.sampled_from(CHANNELS),
        scope=st.data(),
        whole_channel=st.booleans(),
        shift=st.integers(-3 * 24 * 60, 120),
    )
    def revoke(self, subject, channel, scope, whole_channel, shift) -> None:
        scope_id = None if whole_channel else scope.draw(st.sampled_from(self.scopes))
        at = self.clock.now + dt.timedelta(minutes=shift)
        try:
            self.gate.ledger.revoke(
                subject=subject, channel=channel, scope=scope_id, source="test", at=at
            )
        except (TypeError, ValueError):
            return
        self.model.revoke(subject, channel, scope_id, at=at, recorded=self.clock.now)

    @rule(
        subject=st.sampled_from(SUBJECTS),
        channel=st.sampled_from(CHANNELS),
        text=st.sampled_from([*OPT_OUTS, *REVIEWS, *NOTHING, "START", *sum(LOCAL.values(), [])]),
        shift=st.integers(-600, 60),
    )
    def reply(self, subject, channel, text, shift) -> None:
        at = self.clock.now + dt.timedelta(minutes=shift)
        try:
            result = self.gate.ledger.inbound(subject=subject, text=text, channel=channel, at=at)
        except (TypeError, ValueError):
            return
        meaning = _meaning(text, subject, channel, type(self).catalog)
        event(f"reply {meaning} -> {result.action}")
        review = None
        if result.action == "review":
            review = self.gate.ledger.reviews()[-1]["id"]
        self.model.inbound(
            subject,
            channel,
            meaning,
            at=at,
            recorded=self.clock.now,
            review_id=review if meaning == "review" else None,
        )

    @precondition(lambda self: self.gate.ledger.reviews())
    @rule(pick=st.data(), opt_out=st.booleans())
    def resolve(self, pick, opt_out) -> None:
        review = pick.draw(st.sampled_from(self.gate.ledger.reviews()))
        self.gate.ledger.resolve(review["id"], opt_out=opt_out, by="test")
        try:
            self.model.resolve(review["id"], opt_out, recorded=self.clock.now)
        except KeyError:  # a review the gate made of a reply the model read otherwise
            if opt_out:  # then it is a revoke at the reply's time, as the gate records it
                at = dt.datetime.fromisoformat(review["at"])
                self.model.revoke(review["subject"], review["channel"], None, at=at, recorded=at)

    # lists ------------------------------------------------------------------------------------

    @rule(subjects=st.lists(st.sampled_from(SUBJECTS), max_size=3))
    def do_not_contact(self, subjects) -> None:
        self.gate.ledger.import_dnc("internal", subjects)
        self.model.dnc("internal", subjects, recorded=self.clock.now)

    @rule(market=st.sampled_from(["US", "SG"]), days=st.integers(0, 40))
    def registry_checked(self, market, days) -> None:
        checked = self.clock.now - dt.timedelta(days=days)
        self.gate.ledger.import_dnc(f"{market}-registry", [], registry=market, checked_at=checked)
        self.model.dnc(
            f"{market}-registry",
            [],
            registry_market=market,
            checked_at=checked,
            recorded=self.clock.now,
        )

    @rule(number=st.sampled_from(list(PHONES)), days=st.integers(-2, 20))
    def number_reassigned(self, number, days) -> None:
        when = self.clock.now - dt.timedelta(days=days)
        self.gate.ledger.import_reassigned([(number, when)])
        self.model.reassigned(number, when, recorded=self.clock.now)

    @rule(
        kind=st.sampled_from(["template", "sender", "market"]), pick=st.data(), pause=st.booleans()
    )
    def pause_or_resume(self, kind, pick, pause) -> None:
        catalog = type(self).catalog
        targets = {
            "template": sorted(catalog.templates),
            "sender": sorted(catalog.senders),
            "market": ["US", "GB", "FR", "DE", "CA", "IN"],
        }[kind]
        target = pick.draw(st.sampled_from(targets))
        action = self.gate.pause if pause else self.gate.resume
        try:
            action(reason="test", by="test", **{kind: target})
        except UsageError:
            return  # resuming what is not paused
        (self.model.pause if pause else self.model.resume)(kind, target, recorded=self.clock.now)

    @rule(subject=st.sampled_from(SUBJECTS))
    def erase(self, subject) -> None:
        self.gate.ledger.erase(subject)
        self.model.erase(subject, recorded=self.clock.now)

    # sends ------------------------------------------------------------------------------------

    def _send(self, data) -> Send:
        catalog = type(self).catalog
        if self.granted and data.draw(st.integers(1, 3)) < 3:  # mostly someone who consented
            template, to = data.draw(st.sampled_from(self.granted))
            to = data.draw(st.sampled_from([to, SPELLINGS.get(to, to), to.upper()]))
        else:
            template = data.draw(st.sampled_from(self.sendable + self.templates))
            phones = catalog.templates[template].channel in ("sms", "mms", "whatsapp", "rcs")
            to = data.draw(st.sampled_from([*PHONES, *SPELLINGS.values()] if phones else ADDRESSES))
        channel = catalog.templates[template].channel
        shift = data.draw(
            st.sampled_from([None, None, -1, 1, 60 * 24 * 40])
            | st.integers(-3 * 24 * 60, 3 * 24 * 60)
        )
        rare = data.draw(st.integers(1, 10)) == 10  # a channel or market that differs, now and then
        return Send(
            to=to,
            template=template,
            at=None if shift is None else self.clock.now + dt.timedelta(minutes=shift),
            channel=data.draw(st.sampled_from(CHANNELS))
            if rare
            else data.draw(st.sampled_from([None, channel])),
            market=data.draw(st.sampled_from(["US", "CA", "GB", "FR"])) if rare else None,
            timezone=data.draw(st.sampled_from(ZONES)),
        )

    def _judge(self, send: Send, decision) -> None:
        now = self.clock.now
        expected = self.model.decide(send, now)
        self.decisions += 1
        event(f"gate {decision.outcome}, model {expected.outcome}")
        if decision.outcome == "allow":
            assert expected.outcome == "allow", (
                f"the gate allowed {send} at {now}; the model says {expected.outcome} "
                f"{sorted(expected.codes)}"
            )
            self.model.sent(send, decision, now=now)

    @rule(data=st.data())
    def check(self, data) -> None:
        send = self._send(data)
        self._judge(send, self.gate.check(send))

    @rule(data=st.data(), size=st.integers(2, 6))
    def check_many(self, data, size) -> None:
        sends = [self._send(data) for _ in range(size)]
        for send, decision in zip(sends, self.gate.check_many(sends), strict=True):
            self._judge(send, decision)

    @rule(data=st.data(), threads=st.integers(2, 4))
    def threads_share_the_gate(self, data, threads) -> None:
        sends = [[self._send(data) for _ in range(3)] for _ in range(threads)]
        answers: list = []
        failures: list = []

        def work(batch):
            try:
                for send in batch:
                    answers.append((send, self.gate.check(send)))
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        workers = [threading.Thread(target=work, args=(batch,)) for batch in sends]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not failures, failures
        # the decisions were made one at a time, in the order of their audit entries
        for send, decision in sorted(answers, key=lambda pair: pair[1].id):
            assert decision.id is not None
            self._judge(send, decision)

    @invariant()
    def no_decision_lacks_its_entry(self) -> None:
        if hasattr(self, "gate") and self.decisions and self.decisions % 25 == 0:
            assert self.gate._db.verify().ok


@pytest.fixture(autouse=True)
def _hashed_subjects(monkeypatch):
    # pseudonymised subjects, so that erasure is in play
    monkeypatch.setenv("COMPLIANCE_SUBJECT_KEY", "model-test")
    monkeypatch.delenv("COMPLIANCE_AUDIT_KEY", raising=False)


def test_the_gate_never_allows_what_the_model_refuses(catalog, backend, request):
    GateAgainstModel.catalog = catalog
    if backend == "postgresql":
        # a database per run, logged in as the application role a deployment uses: every
        # write the gate makes, with only the privileges `compliance ledger grants` gives
        GateAgainstModel.new_ledger = request.getfixturevalue("pg_roles").ledger
    else:
        GateAgainstModel.new_ledger = lambda: None
    runner = GateAgainstModel.TestCase
    runner.settings = settings(
        max_examples=(100 if backend == "sqlite" else 40) * max(1, SOAK * 10),
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    runner().runTest()
