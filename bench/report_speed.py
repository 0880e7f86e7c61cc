"""Benchmark `compliance report` on a large ledger: its time without the verify pass, and its
peak memory.

    python bench/report_speed.py                      # 2,000,000 entries
    python bench/report_speed.py --entries 20000      # a quick run (about 15 s)
    python bench/report_speed.py --keep               # keep the ledger and print its path
    python bench/report_speed.py --pg                 # also on PostgreSQL (ledger migrate)

It builds, in a temporary folder, a SQLite ledger of --entries audit entries written directly
(not through the gate), chained and vouching for their rows as the gate writes them, so that
`compliance audit verify` passes on it: about 95% decisions over the 90 days before
2026-11-01 (markets US, CA and GB; allow ~80%, deny ~15%, defer ~5%; 200 templates), consent
grants for most of --subjects numbers over the year before, ~10% of the subjects opting out by
STOP (a few hundred of them sent to afterwards: breaches), replies waiting for review and their
resolutions, do-not-contact lists with US registry checks, and pauses. Then it times, each in a
fresh process that reports its own peak RSS (VmHWM):

* `compliance audit verify --json`, on its own;
* `compliance report --ledger L --until 2026-11-01T00:00:00Z --format json -o FILE` and the
  same with `--format html` (with `--repo examples/acme`, or the shipped market files with
  --no-repo): the wall time less the time verify took inside the command (`trail.seconds`),
  the goal being under 30 s, and the peak RSS, the goal being at most 256 MiB;
* `compliance audit export --format jsonl` of the same ledger, the peer: every entry read once.

A command still running after --timeout seconds (600) is stopped and its row says so. With
--pg the ledger is also copied to a fresh PostgreSQL database with `compliance ledger migrate`
and verify and the reports are timed there. A script that prints figures, not a test: it
asserts nothing, and exits 0 unless the ledger cannot be built or a command fails.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gate_speed import machine, table

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "examples" / "acme"
REPORT_GOAL_S = 30.0
RSS_GOAL_MIB = 256

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
INF = 2**62
END = dt.datetime(2026, 11, 1, tzinfo=UTC)  # the end of the data: the report's --until
END_US = (END - EPOCH) // dt.timedelta(microseconds=1)
PERIOD_DAYS = 90  # decisions
START_US = END_US - PERIOD_DAYS * DAY_US
OPEN_US = START_US - 365 * DAY_US  # the trail opens a year earlier: consent given before

# the gate's own environment would change what is written (signatures, hashed subjects) or read
UNSET = ("COMPLIANCE_AUDIT_KEY", "COMPLIANCE_SUBJECT_KEY", "COMPLIANCE_DB")

# the command in a fresh process, as in tests/gate/test_export_scale.py, printing its exit code
# and its own peak RSS: VmHWM, not ru_maxrss, which on Linux also holds the peak of the process
# that started it (the maximum is carried over exec, and this script's own RSS after building a
# large ledger is several hundred MiB)
PEAK = """
import resource, sys
from compliance.cli import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print(peak, code)
"""

# --------------------------------------------------------------------------------------------
# What the ledger holds
# --------------------------------------------------------------------------------------------

MARKETS = ("US", "CA", "GB")
MARKET_SHARE = (0.70, 0.15, 0.15)  # of subjects, so of decisions
AREAS = {
    "US": ("212", "213", "305", "312", "415", "617", "713", "917"),
    "CA": ("403", "416", "514", "604", "613", "647"),
}
SCOPES = {"US": "us-sms-promotions", "GB": "gb-customer-offers", "CA": "ca-sms-offers"}
SENDERS = {"US": "acme-us-10dlc", "GB": "acme-uk", "CA": "acme-ca"}
STOP_WORDS = {"US": ("STOP", "STOP", "STOP", "Stop", "UNSUBSCRIBE"), "CA": ("STOP", "ARRET")}
# examples/acme's templates where one fits; the rest (to 200) are made up: the report names
# templates not in the catalog as such
ACME = {
    ("US", "marketing"): ("spring-sale", "summer-newsletter", "flash-sale"),
    ("US", "transactional"): ("order-shipped", "shipped-with-link", "delivery-update-whatsapp"),
    ("US", "otp"): ("login-code",),
    ("GB", "marketing"): ("gb-offer",),
}
TEMPLATES = {"US": 120, "CA": 40, "GB": 40}
PURPOSES = (("marketing", 0.5, 0.6), ("transactional", 0.35, 0.3), ("otp", 0.15, 0.1))
SHORT = {"marketing": "promo", "transactional": "notice", "otp": "code"}
# what each decision is: outcome and reasons (~80% allow, 15% deny, 5% defer)
MIX = (
    ("allow", 0.80),
    ("quiet_hours", 0.05),  # defer
    ("consent.missing", 0.04),
    ("frequency_cap", 0.035),
    ("consent.revoked", 0.03),
    ("dnc.listed", 0.03),
    ("paused", 0.015),
)
HOURS = (1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 11, 11, 12, 12, 12, 12, 11, 10, 9, 7, 5, 3, 2, 1)
CATALOG = hashlib.sha256(b"report_speed catalog").hexdigest()
REVIEW_TEXTS = ("stop? who is this", "not interested", "who gave you my number", "STPO")


def iso(us: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=us)).isoformat()


def number(market: str, k: int, exchange: int = 200) -> str:
    """The k-th mobile number of a market, in E.164: +1 AAA XXX XXXX (XXX from `exchange`)
    in US and Canadian area codes, +44 74XX XXXXXX in Great Britain."""
    if market == "GB":
        return f"+447{400 + k // 1_000_000}{k % 1_000_000:06d}"
    areas = AREAS[market]
    area, j = areas[k % len(areas)], k // len(areas)
    return f"+1{area}{exchange + j // 10_000}{j % 10_000:04d}"


def check_numbers(numbers: list[str], markets: list[str], rng: random.Random) -> None:
    """Refuse to build unless a sample of the numbers is valid and of its market (the report
    falls back to a number's country for an opt-out's market)."""
    import phonenumbers

    for i in rng.sample(range(len(numbers)), min(1_000, len(numbers))):
        parsed = phonenumbers.parse(numbers[i], None)
        region = phonenumbers.region_code_for_number(parsed)
        if not phonenumbers.is_valid_number(parsed) or region != markets[i]:
            raise SystemExit(f"generated number {numbers[i]} is not a valid {markets[i]} number")


def templates() -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(market, purpose) -> [(template, channel, sender)], most used first."""
    out: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for market, count in TEMPLATES.items():
        for purpose, share, _ in PURPOSES:
            names = list(ACME.get((market, purpose), ()))
            n = round(count * share)
            names += [f"{market.lower()}-{SHORT[purpose]}-{i:03d}" for i in range(n - len(names))]
            sender = "acme-us-otp" if (market, purpose) == ("US", "otp") else SENDERS[market]
            out[(market, purpose)] = [
                (name, "whatsapp", "acme-whatsapp")
                if "whatsapp" in name or (purpose == "transactional" and i % 10 == 9)
                else (name, "sms", sender)
                for i, name in enumerate(names)
            ]
    return out


class Counts(dict):
    def add(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


def build(path: Path, entries: int, n_subjects: int, seed: int) -> dict[str, Any]:
    """Write the ledger; returns what it holds."""
    from compliance.gate import audit
    from compliance.gate.ledger import Ledger
    from compliance.gate.verify import RECENT_DAYS

    started = time.perf_counter()
    rng = random.Random(seed)
    counts = Counts()

    # -- subjects and what happens to them ------------------------------------------------
    markets = rng.choices(MARKETS, weights=MARKET_SHARE, k=n_subjects)
    seen = {m: 0 for m in MARKETS}
    numbers = []
    for market in markets:
        numbers.append(number(market, seen[market]))
        seen[market] += 1
    check_numbers(numbers, markets, rng)
    order = list(range(n_subjects))
    rng.shuffle(order)
    n_dnc, n_never = n_subjects * 3 // 100, n_subjects * 9 // 100
    dnc_pool = order[:n_dnc]  # on the internal do-not-contact list, never granted
    never = order[n_dnc : n_dnc + n_never]  # never granted
    granted = order[n_dnc + n_never :]
    by_market: dict[str, list[int]] = {m: [] for m in MARKETS}
    for s in granted:
        by_market[markets[s]].append(s)
    grant_us = [INF] * n_subjects
    stop_us = [INF] * n_subjects  # from here marketing is held: an opt-out, or a review
    resume_us = [INF] * n_subjects  # a new grant, or a review read as no opt-out
    planned: list[tuple[Any, ...]] = []  # (at_us, kind, ...) of everything but most decisions
    for s in granted:
        early = rng.random() < 0.7
        lo, hi = (OPEN_US + DAY_US, START_US) if early else (START_US, END_US - DAY_US)
        grant_us[s] = rng.randrange(lo, hi)
        planned.append((grant_us[s], "grant", s))
    # opt-outs by STOP (~10% of subjects), a few signing up again later
    revoked = rng.sample(granted, min(len(granted), n_subjects // 10))
    for s in revoked:
        lo = max(grant_us[s] + HOUR_US, START_US - 30 * DAY_US)
        stop_us[s] = rng.randrange(lo, max(lo + 1, END_US - HOUR_US))
        planned.append((stop_us[s], "stop", s))
    again = [s for s in revoked if stop_us[s] < END_US - 20 * DAY_US]
    for s in rng.sample(again, len(again) * 3 // 100):
        resume_us[s] = rng.randrange(stop_us[s] + 5 * DAY_US, END_US - DAY_US)
        planned.append((resume_us[s], "grant", s))
    # replies waiting for a person: two in three resolved, some of those read as opt-outs
    calm = [s for s in granted if stop_us[s] == INF and grant_us[s] < END_US - 10 * DAY_US]
    for s in rng.sample(calm, min(len(calm), n_subjects * 3 // 1000)):
        stop_us[s] = rng.randrange(max(grant_us[s] + HOUR_US, START_US), END_US - HOUR_US)
        planned.append((stop_us[s], "review", s))
        resolved = stop_us[s] + rng.randrange(HOUR_US, 5 * DAY_US)
        if rng.random() < 2 / 3 and resolved < END_US:
            opt_out = rng.random() < 0.15
            if not opt_out:
                resume_us[s] = resolved
            planned.append((resolved, "resolve", s, opt_out))
    # allowed sends after an opt-out: past the market's deadline (breaches), and within it
    lone = [s for s in revoked if resume_us[s] == INF and stop_us[s] < END_US - 25 * DAY_US]
    rng.shuffle(lone)
    breach, within = lone[: n_subjects * 3 // 1000], lone[n_subjects * 3 // 1000 :]
    # (no deadline in GB: any send after an opt-out there is a breach)
    within = [s for s in within if markets[s] != "GB" and stop_us[s] >= START_US]
    within = within[: n_subjects * 15 // 10_000]
    for s in breach:  # in the period, 18 days on at least (10 business days and holidays)
        lo = max(stop_us[s] + 18 * DAY_US, START_US)
        for _ in range(rng.choice((1, 1, 2, 3))):
            planned.append((rng.randrange(lo, END_US), "send", s))
    for s in within:
        planned.append((stop_us[s] + rng.randrange(2 * HOUR_US, 5 * DAY_US), "send", s))
    # do-not-contact: the internal list in three imports, the US registry monthly
    third = max(1, n_dnc // 4)
    for at, part in (
        (START_US - 60 * DAY_US, dnc_pool[: 2 * third]),
        (START_US + 30 * DAY_US, dnc_pool[2 * third : 3 * third]),
        (START_US + 60 * DAY_US, dnc_pool[3 * third :]),
    ):
        planned.append((at + 10 * HOUR_US, "dnc", "internal", part))
    outsiders = [number("US", k, exchange=300) for k in range(n_subjects // 5)]
    us_dnc = [numbers[s] for s in dnc_pool if markets[s] == "US"]
    registry = us_dnc + outsiders
    step = max(1, n_subjects // 200)
    first = len(registry) - 3 * step
    for i, at in enumerate((-20, 10, 40, 70)):
        upto = first + i * step
        planned.append((START_US + at * DAY_US + 9 * HOUR_US, "registry", registry[:upto]))
    # pauses: three templates (one still paused at the end) and a declared emergency
    tpls = templates()
    for market, rank, start, days in (("US", 2, 12, 3), ("GB", 0, 45, 1), ("CA", 1, 84, None)):
        name = tpls[(market, "marketing")][rank][0]
        at = START_US + start * DAY_US + 14 * HOUR_US
        planned.append((at, "pause", "template", name, market, "legal review"))
        if days is not None:
            planned.append((at + days * DAY_US, "resume", "template", name, market, "approved"))
    reason = "declared emergency, R.S. 45:844.31"
    planned.append((START_US + 30 * DAY_US, "pause", "region", "US-LA", "US", reason))
    planned.append((START_US + 33 * DAY_US, "resume", "region", "US-LA", "US", "lifted"))
    planned.sort(key=lambda p: (p[0], p[1]))

    # -- decisions per day: what is left of --entries, fewer at weekends -------------------
    n_decisions = entries - 1 - len(planned)  # less ledger.init and the planned entries
    if n_decisions < PERIOD_DAYS:
        raise SystemExit(f"--entries {entries:,} is too few for {n_subjects:,} subjects")
    weights = [0.6 if (START_US // DAY_US + d + 3) % 7 >= 5 else 1.0 for d in range(PERIOD_DAYS)]
    total = sum(weights)
    per_day = [int(n_decisions * w / total) for w in weights]
    for d in range(n_decisions - sum(per_day)):
        per_day[d % PERIOD_DAYS] += 1
    hours = list(range(24))
    picks = [name for name, _ in MIX]
    cum = []
    for _, share in MIX:
        cum.append((cum[-1] if cum else 0) + share)
    purposes = [p for p, _, _ in PURPOSES]
    purpose_cum = [sum(w for _, _, w in PURPOSES[: i + 1]) for i in range(len(PURPOSES))]
    tpl_cum = {
        key: [sum(1 / (r + 1) ** 0.8 for r in range(i + 1)) for i in range(len(names))]
        for key, names in tpls.items()
    }

    def template(market: str, purpose: str) -> tuple[str, str, str]:
        names = tpls[(market, purpose)]
        return rng.choices(names, cum_weights=tpl_cum[(market, purpose)])[0]

    # -- writing ----------------------------------------------------------------------------
    ledger = Ledger(path, create=True, clock=lambda: EPOCH + dt.timedelta(microseconds=OPEN_US))
    ledger.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # written once, not through a WAL
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("BEGIN")
    tail = audit.tail_of(conn)  # after the ledger.init entry
    pending: list[tuple[Any, ...]] = []
    rows_of: dict[str, list[tuple[Any, ...]]] = {}
    ids: dict[str, int] = {}
    stopped: list[int] = []  # subjects opted out so far
    listed: list[int] = []  # on the internal list so far
    paused: dict[str, str] = {}  # templates paused now -> market
    on_registry: set[str] = set()
    reviews: dict[int, tuple[int, int, str]] = {}  # subject -> review id, at_us, text

    def flush() -> None:
        conn.executemany(audit.INSERT, pending)
        pending.clear()
        for name, rows in rows_of.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
                rows.clear()

    def insert(name: str, rows: list[tuple[Any, ...]]) -> str:
        """Rows of a covered table (without id and audit_seq) for the next entry; the digest
        it holds of them."""
        seq = tail[0] + 1
        first = ids.get(name, 0) + 1
        whole = [(first + i, *row, seq) for i, row in enumerate(rows)]
        ids[name] = first - 1 + len(rows)
        rows_of.setdefault(name, []).extend(whole)
        return audit.rows_digest(whole)

    def write(at_us: int, kind: str, subject: str | None, data: dict | None, **kw: Any) -> None:
        nonlocal tail
        row, tail = audit.entry(
            tail, at=iso(at_us), at_us=at_us, kind=kind, subject=subject, data=data, **kw
        )
        pending.append(row)
        counts.add(kind)
        if len(pending) >= 50_000:
            flush()

    def decide(at_us: int, s: int, tpl: tuple[str, str, str], purpose: str, outcome: str,
               reasons: list[str], not_before: str | None = None) -> None:  # fmt: skip
        """A decision entry, as the gate writes it (the send scheduled when it was decided)."""
        nonlocal tail
        name, channel, _ = tpl
        at = iso(at_us)
        text = audit.decision_text(
            catalog=CATALOG,
            channel=channel,
            market=markets[s],
            not_before=not_before,
            outcome=outcome,
            reasons=reasons,
            requested=None,
            scheduled=at,
            template=name,
            to=numbers[s],
            warnings=[],
        )
        row, tail = audit.entry(
            tail,
            at=at,
            at_us=at_us,
            kind="decision",
            subject=numbers[s],
            data=None,
            outcome=outcome,
            purpose=purpose,
            channel=channel,
            send_us=at_us,
            text=text,
        )
        pending.append(row)
        counts.add(outcome)
        if len(pending) >= 50_000:
            flush()

    def in_force(s: int, t: int) -> bool:
        return grant_us[s] <= t and not (stop_us[s] <= t < resume_us[s])

    def live(t: int, market: str | None = None) -> int:
        pool = granted if market is None else by_market[market]
        for _ in range(1_000):
            s = pool[rng.randrange(len(pool))]
            if in_force(s, t):
                return s
        raise SystemExit("no subject with consent in force: too few --subjects")

    def event(p: tuple[Any, ...]) -> None:
        at_us, kind = p[0], p[1]
        at = iso(at_us)
        if kind == "grant":
            s = p[2]
            market = markets[s]
            scope = SCOPES[market]
            source = rng.choice(("web-checkout", "web-checkout", "checkout", "keyword-join"))
            captured = hashlib.sha256(f"{scope} capture".encode()).hexdigest()
            if rng.random() < 0.03:
                source, captured = "csv-import", None  # older consent, no capture text kept
            evidence = {"ip": f"198.51.100.{rng.randrange(1, 255)}"}
            if source == "keyword-join":
                evidence = {"keyword": "JOIN"}
            digest = insert(
                "consent_events",
                [(numbers[s], "sms", scope, "grant", source, at, at_us, captured,
                  json.dumps(evidence, sort_keys=True))],
            )  # fmt: skip
            data = {
                "channel": "sms",
                "scope": scope,
                "source": source,
                "at": at,
                "capture_digest": captured,
                "evidence": evidence,
                "rows": {"consent_events": digest},
            }
            write(at_us, "consent.grant", numbers[s], data, channel="sms")
        elif kind == "stop":
            s = p[2]
            market = markets[s]
            text = rng.choice(STOP_WORDS.get(market, ("STOP",)))
            digest = insert(
                "consent_events",
                [(numbers[s], "sms", None, "revoke", f"inbound:{text}", at, at_us, None, "{}")],
            )
            data = {
                "channel": "sms",
                "sender": SENDERS[market],
                "text": text,
                "action": "opt_out",
                "at": at,
                "rows": {"consent_events": digest},
            }
            write(at_us, "inbound", numbers[s], data, channel="sms")
            stopped.append(s)
        elif kind == "review":
            s = p[2]
            text = rng.choice(REVIEW_TEXTS)
            digest = insert("reviews", [(numbers[s], "sms", text, at)])
            reviews[s] = (ids["reviews"], at_us, text)
            data = {
                "channel": "sms",
                "sender": SENDERS[markets[s]],
                "text": text,
                "action": "review",
                "at": at,
                "review": ids["reviews"],
                "rows": {"reviews": digest},
            }
            write(at_us, "inbound", numbers[s], data, channel="sms")
        elif kind == "resolve":
            s, opt_out = p[2], p[3]
            review, message_us, text = reviews[s]
            by = "officer@acme.example"
            resolution = "opt_out" if opt_out else "not_opt_out"
            rows = {"review_resolutions": insert("review_resolutions", [(review, resolution, by)])}
            if opt_out:
                evidence = json.dumps({"by": by, "text": text}, sort_keys=True)
                rows["consent_events"] = insert(
                    "consent_events",
                    [(numbers[s], "sms", None, "revoke", f"review:{review}", iso(message_us),
                      message_us, None, evidence)],
                )  # fmt: skip
                stopped.append(s)
            data = {
                "review": review,
                "subject": numbers[s],
                "channel": "sms",
                "resolution": resolution,
                "by": by,
                "note": None,
                "message_at": iso(message_us),
                "rows": rows,
            }
            write(at_us, "review.resolve", None, data, channel="sms")
        elif kind == "dnc":
            name, part = p[2], p[3]
            digest = insert("dnc_entries", [(name, numbers[s], at[:10]) for s in part])
            data = {
                "list": name,
                "entries": len(part),
                "added": len(part),
                "registry_market": None,
                "checked_at": None,
                "rows": {"dnc_entries": digest},
            }
            write(at_us, "dnc.import", None, data)
            listed.extend(part)
        elif kind == "registry":
            found = p[2]
            new = [n for n in found if n not in on_registry]
            on_registry.update(new)
            checked_us = at_us - 6 * HOUR_US
            rows = {
                "dnc_entries": insert("dnc_entries", [("us-registry", n, None) for n in new]),
                "dnc_checks": insert("dnc_checks", [("us-registry", "US", checked_us)]),
            }
            data = {
                "list": "us-registry",
                "entries": len(found),
                "added": len(new),
                "registry_market": "US",
                "checked_at": iso(checked_us),
                "rows": rows,
            }
            write(at_us, "dnc.import", None, data)
        elif kind in ("pause", "resume"):
            target_kind, target, market, why = p[2], p[3], p[4], p[5]
            by = "ops@acme.example"
            digest = insert("pauses", [(target_kind, target, int(kind == "pause"), why, by, at)])
            data = {
                "target_kind": target_kind,
                "target": target,
                "reason": why,
                "by": by,
                "rows": {"pauses": digest},
            }
            write(at_us, kind, None, data)
            if target_kind == "template":
                if kind == "pause":
                    paused[target] = market
                else:
                    paused.pop(target, None)
        elif kind == "send":  # an allowed marketing send after an opt-out
            s = p[2]
            decide(at_us, s, template(markets[s], "marketing"), "marketing", "allow", [])
            counts.add("after opt-out")

    def decision(t: int) -> None:
        pick = picks[bisect.bisect(cum, rng.random() * cum[-1])]
        purpose = "marketing"
        if pick == "allow":
            purpose = purposes[bisect.bisect(purpose_cum, rng.random() * purpose_cum[-1])]
        if pick in ("allow", "quiet_hours", "frequency_cap"):
            s = live(t)
        elif pick == "paused" and paused:
            name = rng.choice(sorted(paused))
            s = live(t, paused[name])
            tpl = next(x for x in tpls[(markets[s], "marketing")] if x[0] == name)
            decide(t, s, tpl, purpose, "deny", ["paused"])
            return
        elif pick == "paused":  # nothing paused now
            pick, s = "frequency_cap", live(t)
        elif pick == "consent.revoked" and stopped:
            s = stopped[rng.randrange(len(stopped))]
            if not stop_us[s] <= t < resume_us[s]:
                pick, s = "consent.missing", never[rng.randrange(len(never))]
        elif pick == "dnc.listed" and listed:
            s = listed[rng.randrange(len(listed))]
        else:
            pick, s = "consent.missing", never[rng.randrange(len(never))]
        tpl = template(markets[s], purpose)
        while tpl[0] in paused:
            tpl = template(markets[s], purpose)
        if pick == "allow":
            decide(t, s, tpl, purpose, "allow", [])
        elif pick == "quiet_hours":
            later = (t // HOUR_US + rng.randrange(2, 14)) * HOUR_US
            decide(t, s, tpl, purpose, "defer", ["quiet_hours"], iso(later))
        elif pick == "dnc.listed":
            reasons = ["consent.missing", "dnc.listed"] if rng.random() < 0.3 else ["dnc.listed"]
            decide(t, s, tpl, purpose, "deny", reasons)
        else:
            decide(t, s, tpl, purpose, "deny", [pick])

    ahead = 0  # the next planned entry
    for day in range(OPEN_US // DAY_US, END_US // DAY_US):
        lo, hi = day * DAY_US, (day + 1) * DAY_US
        n = per_day[day - START_US // DAY_US] if lo >= START_US else 0
        times = sorted(
            lo + h * HOUR_US + rng.randrange(HOUR_US)
            for h in rng.choices(hours, weights=HOURS, k=n)
        )
        for t in times:
            while ahead < len(planned) and planned[ahead][0] <= t:
                event(planned[ahead])
                ahead += 1
            decision(t)
        while ahead < len(planned) and planned[ahead][0] < hi:
            event(planned[ahead])
            ahead += 1
    flush()
    # what the gate keeps for frequency caps: allowed sends of the last days before the clock
    # (none when the data ends more than RECENT_DAYS ago, as it does while the clock is after
    # 2026-11-09)
    cutoff = time.time_ns() // 1000 // DAY_US - RECENT_DAYS
    conn.execute(
        "INSERT INTO recent_sends SELECT send_us / ?, subject, send_us, purpose, channel, seq "
        "FROM audit_log WHERE kind = 'decision' AND outcome = 'allow' AND send_us / ? >= ?",
        (DAY_US, DAY_US, cutoff),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")  # as the gate keeps it
    conn.close()
    return {
        "entries": tail[0],
        "subjects": n_subjects,
        "decisions": sum(counts.get(k, 0) for k in ("allow", "deny", "defer")),
        "allow": counts.get("allow", 0),
        "deny": counts.get("deny", 0),
        "defer": counts.get("defer", 0),
        "grants": counts.get("consent.grant", 0),
        "opt-outs": len(stopped),
        "after opt-out": counts.get("after opt-out", 0),
        "reviews": len(reviews),
        "dnc entries": ids.get("dnc_entries", 0),
        "pauses": ids.get("pauses", 0),
        "seconds": time.perf_counter() - started,
        "bytes": path.stat().st_size,
    }


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def vm_hwm_kib(pid: int) -> int:
    """A running process's peak RSS so far (VmHWM), 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def helpers(group: int) -> list[int]:
    """The processes of a process group but its leader (verify's helper processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != group:
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and fields[2] == str(group):  # pgrp
                found.append(int(entry.name))
    return found


def run(script: Path, args: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
    """`compliance ARGS` in a fresh process: wall seconds, exit code, its peak RSS in MiB, and
    the largest peak RSS of the processes it starts (sampled twice a second). One still running
    after `timeout` seconds is stopped (its process group killed): then "wall" is None and
    "rss" its peak until then."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: verify's helpers are stopped with it
    )
    peak = helper = 0
    while True:
        try:
            out, err = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            peak = max(peak, vm_hwm_kib(proc.pid))
            helper = max([helper, *(vm_hwm_kib(pid) for pid in helpers(proc.pid))])
            if time.perf_counter() - started > timeout:
                os.killpg(proc.pid, 9)
                proc.communicate()
                return {"wall": None, "rss": peak / 1024, "helpers_rss": helper / 1024}
    wall = time.perf_counter() - started
    try:
        peak_kib, code = out.split()[-2:]
    except ValueError:
        raise SystemExit(f"compliance {' '.join(args)} failed:\n{err[-3000:]}") from None
    if proc.returncode != 0 or code not in ("0", "1"):  # 1: the report of a broken trail
        raise SystemExit(f"compliance {' '.join(args)} exited {code}:\n{err[-3000:]}")
    return {
        "wall": wall,
        "code": int(code),
        "rss": int(peak_kib) / 1024,
        "helpers_rss": helper / 1024,
        "stdout": out,
    }


def html_verify_seconds(page: Path) -> float:
    """trail.seconds as the page shows it."""
    text = page.read_text("utf-8")
    found = re.search(r'data-figure="trail\.seconds">([0-9.,]+)<', text)
    if found is None:
        raise SystemExit(f"{page} shows no trail.seconds")
    return float(found.group(1).replace(",", ""))


def report_args(ledger: str, fmt: str, out: Path, repo: Path | None) -> list[str]:
    args = ["report", "--ledger", ledger, "--until", END.isoformat().replace("+00:00", "Z")]
    args += ["--format", fmt, "-o", str(out)]
    return args + (["--repo", str(repo)] if repo is not None else [])


def time_report(
    script: Path, ledger: str, fmt: str, out: Path, repo: Path | None, cwd: Path, timeout: float
) -> dict[str, Any]:
    """The report's wall time and peak RSS, and the time verify took inside it (trail.seconds)."""
    found = run(script, report_args(ledger, fmt, out, repo), cwd, timeout)
    if found["wall"] is None:
        return found
    if fmt == "json":
        figures = json.loads(out.read_text("utf-8"))
        trail = figures["trail"]
        found["verify"] = float(trail["seconds"])
        found["figures"] = figures
    else:
        found["verify"] = html_verify_seconds(out)
    found["report"] = found["wall"] - found["verify"]
    return found


def time_verify(script: Path, ledger: str, cwd: Path, timeout: float) -> dict[str, Any]:
    """`compliance audit verify --json` on its own: its wall time and verdict."""
    found = run(script, ["audit", "verify", "--ledger", ledger, "--json"], cwd, timeout)
    if found["wall"] is not None:
        text = found["stdout"].rsplit("\n", 2)[0]  # less the wrapper's line
        verdict = json.loads(text[text.index("{") :])
        found["ok"] = bool(verdict.get("ok"))
        found["entries"] = int(verdict.get("entries") or 0)
        found["problem"] = verdict.get("problem")
    return found


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"report_speed: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=2_000_000, help="audit entries (2,000,000)")
    p.add_argument(
        "--subjects",
        type=int,
        help="subjects (default 100,000, or --entries / 20 when that is fewer, at least 1,000)",
    )
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--no-repo",
        action="store_true",
        help="report with the market files shipped with compliance instead of "
        "--repo examples/acme (no lint findings)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="stop a command still running after this many seconds (600): its row says so",
    )
    p.add_argument("--keep", action="store_true", help="keep the ledger and print its path")
    p.add_argument(
        "--pg",
        nargs="?",
        const="",
        metavar="URL",
        help="also copy the ledger to a fresh PostgreSQL database (ledger migrate) and time the "
        "report there; the server: URL, else COMPLIANCE_TEST_PG, else 127.0.0.1:5432",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    return p.parse_args(argv)


class Rows(list):
    """The figures, as {"figure", "value", "goal", "met", "detail"} rows; `timeout`: when a
    command is stopped."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def add(
        self, figure: str, value: str, goal: str = "", met: bool | None = None, detail: str = ""
    ) -> None:
        self.append({"figure": figure, "value": value, "goal": goal, "met": met, "detail": detail})

    def report(
        self, name: str, found: dict[str, Any], verify: float | None, extra: str = ""
    ) -> None:
        """The two goals of one report run; `verify` is audit verify's own time, for a run that
        was stopped (the report's own verify time is then unknown)."""
        if found["wall"] is None:
            took = self.timeout - (verify or 0.0)
            self.add(
                f"{name}, excluding verify",
                f"> {took:.0f} s",
                f"< {REPORT_GOAL_S:g} s",
                False,
                f"stopped after {self.timeout:.0f} s (--timeout), less the {verify or 0:.1f} s "
                "audit verify takes on its own; no report written",
            )
        else:
            self.add(
                f"{name}, excluding verify",
                f"{found['report']:.1f} s",
                f"< {REPORT_GOAL_S:g} s",
                found["report"] < REPORT_GOAL_S,
                f"wall {found['wall']:.1f} s (process start to exit) less verify "
                f"{found['verify']:.1f} s (trail.seconds){extra}",
            )
        self.add(
            f"{name}, peak RSS",
            f"{found['rss']:.0f} MiB",
            f"<= {RSS_GOAL_MIB} MiB",
            found["rss"] <= RSS_GOAL_MIB,
            "the command's process (VmHWM)"
            + ("; until it was stopped" if found["wall"] is None else "")
            + (
                f"; verify's helper processes, each: at most {found['helpers_rss']:.0f} MiB"
                if found["helpers_rss"]
                else ""
            ),
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in UNSET:
        os.environ.pop(name, None)
    subjects = args.subjects or max(1_000, min(100_000, args.entries // 20))
    repo = None if args.no_repo else REPO
    rows = Rows(args.timeout)
    tmp = Path(tempfile.mkdtemp(prefix="report-speed-"))
    try:
        ledger = tmp / "ledger.db"
        script = tmp / "peak.py"
        script.write_text(PEAK)
        log(f"building the ledger: {args.entries:,} entries, {subjects:,} subjects")
        built = build(ledger, args.entries, subjects, args.seed)
        d = built["decisions"]
        rows.add(
            "report ledger",
            f"{built['entries']:,} entries",
            detail=f"{d:,} decisions (allow {built['allow'] / d:.0%}, deny "
            f"{built['deny'] / d:.0%}, defer {built['defer'] / d:.0%}), {subjects:,} subjects, "
            f"{built['grants']:,} grants, {built['opt-outs']:,} opt-outs "
            f"({built['after opt-out']:,} sends after one), {built['reviews']:,} reviews, "
            f"{built['dnc entries']:,} do-not-contact entries, {built['pauses']} pause events; "
            f"built in {built['seconds']:.1f} s, {built['bytes'] / 2**20:,.0f} MiB",
        )
        log("compliance audit verify")
        verified = time_verify(script, str(ledger), tmp, args.timeout)
        verify_s = verified["wall"]
        if verify_s is None:
            rows.add("audit verify, report ledger", f"> {args.timeout:.0f} s", detail="stopped")
        else:
            state = "intact" if verified["ok"] else f"BROKEN: {verified['problem']}"
            rows.add(
                "audit verify, report ledger",
                f"{verify_s:.1f} s",
                detail=f"`compliance audit verify` on its own, process start to exit: "
                f"{verified['entries'] / verify_s:,.0f} entries/s; trail {state}",
            )
        where = f"--repo {repo.relative_to(ROOT)}" if repo else "the shipped market files"
        log(f"compliance report --format json ({where})")
        as_json = time_report(
            script, str(ledger), "json", tmp / "report.json", repo, tmp, args.timeout
        )
        extra = ""
        if as_json["wall"] is not None:
            figures = as_json.pop("figures")
            opt = figures["opt_outs"]
            extra = (
                f"; {figures['decisions']['total']:,} decisions, {opt['total']:,} opt-outs, "
                f"{opt['followed_by_sends']:,} followed by sends, {opt['breached']:,} breached; "
                f"{(tmp / 'report.json').stat().st_size / 2**20:.1f} MiB of JSON"
            )
        rows.report("report --format json", as_json, verify_s, extra)
        if as_json["wall"] is None:
            rows.add("report --format html", "skipped", detail="the JSON report did not finish")
        else:
            log(f"compliance report --format html ({where})")
            as_html = time_report(
                script, str(ledger), "html", tmp / "report.html", repo, tmp, args.timeout
            )
            extra = ""
            if as_html["wall"] is not None:
                size = (tmp / "report.html").stat().st_size / 2**20
                extra = f"; a page of {size:.1f} MiB"
            rows.report("report --format html", as_html, verify_s, extra)
        log("compliance audit export --format jsonl (the peer)")
        out = tmp / "export.jsonl"
        export = run(
            script,
            ["audit", "export", "--ledger", str(ledger), "--format", "jsonl", "-o", str(out)],
            tmp,
            args.timeout,
        )
        out.unlink(missing_ok=True)
        if export["wall"] is None:
            rows.add("audit export --format jsonl (the peer)", f"> {args.timeout:.0f} s")
        else:
            rows.add(
                "audit export --format jsonl (the peer)",
                f"{export['wall']:.1f} s",
                detail=f"every entry read once: {built['entries'] / export['wall']:,.0f} "
                f"entries/s, peak RSS {export['rss']:.0f} MiB",
            )
            if as_json["wall"] is not None:
                ratio = f"{as_json['report'] / export['wall']:.2f}x"
            else:
                ratio = f"> {(args.timeout - (verify_s or 0)) / export['wall']:.0f}x"
            rows.add(
                "report (json, excluding verify) / export",
                ratio,
                detail="below 1: the report takes less than reading the trail once",
            )
        described = machine(tmp)  # as gate_speed.py has it: one line in run.py's table
        if args.pg is not None:
            described += pg_rows(args.pg or None, script, ledger, repo, tmp, rows, args.timeout)
        shown = [("figure", "value", "goal", "met", "detail")]
        shown += [
            (r["figure"], r["value"], r["goal"], "" if r["met"] is None else
             "met" if r["met"] else "NOT met", r["detail"])
            for r in rows
        ]  # fmt: skip
        print(table(shown))
        print()
        print(table([("machine", "", ""), *described]))
        if args.keep:
            print(f"\nledger kept: {ledger}")
        if args.json:
            data = {"script": "report_speed", "rows": rows, "machine": [list(m) for m in described]}
            args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    finally:
        if args.keep:  # the ledger only
            for found in tmp.iterdir():
                if not found.name.startswith("ledger.db"):
                    found.unlink()
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def pg_rows(
    server: str | None, script: Path, ledger: Path, repo: Path | None, tmp: Path, rows: Rows,
    timeout: float,
) -> list[tuple[str, str, str]]:  # fmt: skip
    """The ledger copied to a fresh database with `compliance ledger migrate` (both sides
    verified), the report timed there; the database is dropped after. Returns the server's
    description."""
    from ledger_backends import create_database, drop_database, server_rows
    from pg_chains import find_server

    from compliance.gate.ledger.transfer import migrate

    server = find_server(server)
    url = create_database(server)
    try:
        log("copying the ledger to PostgreSQL (compliance ledger migrate)")
        started = time.perf_counter()
        copied = migrate(ledger, url)
        took = time.perf_counter() - started
        rows.add(
            "report ledger migrate SQLite -> PostgreSQL",
            f"{took:.1f} s",
            detail=f"{copied.entries:,} entries, both sides verified "
            f"({copied.entries / took:,.0f} entries/s)",
        )
        log("compliance audit verify on PostgreSQL")
        verified = time_verify(script, url, tmp, timeout)
        verify_s = verified["wall"]
        rows.add(
            "audit verify, report ledger, PostgreSQL",
            f"{verify_s:.1f} s" if verify_s is not None else f"> {timeout:.0f} s",
            detail="" if verify_s is None else f"trail {'intact' if verified['ok'] else 'BROKEN'}",
        )
        for fmt in ("json", "html"):
            log(f"compliance report --format {fmt} on PostgreSQL")
            found = time_report(script, url, fmt, tmp / f"report.{fmt}", repo, tmp, timeout)
            rows.report(f"report --format {fmt}, PostgreSQL", found, verify_s)
            if found["wall"] is None:
                break
        return server_rows(url)
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    sys.exit(main())
