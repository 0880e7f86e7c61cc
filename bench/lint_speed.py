"""Benchmark `compliance lint` on a generated template repo and print the figures.

    python bench/lint_speed.py                      # 10,000 templates in a temp folder
    python bench/lint_speed.py --templates 2000 --out /tmp/repo2k   # keep the repo

It generates a realistic, valid repo (templates, senders, consent scopes, compliance.yaml and an
empty .git so the folder is the repo root), then times, as subprocesses and by wall clock:

* `compliance lint <repo> --format json -o <file> --no-cache`, best of --repeat runs, on all
  cores and pinned to core 0 with `taskset -c 0` (the goal is 2,000 documents per second on
  one core);
* `check-jsonschema --schemafile <compliance schema template> <every template file>`, for scale;
* `compliance --version` and `python -c "import compliance"` (the goal is under 150 ms);
* the pre-commit figures, on a second repo of as many US marketing templates with one sender
  and one scope, with a user cache folder of their own: a cold full lint (no lint cache, no
  copy of the rule packs) against check-jsonschema on the same templates (goal: at most half
  its time), --no-cache on all cores and on one, a full lint with a warm cache, one changed
  template linted alone as pre-commit runs it, a one-template repo (goal: under 0.5 s; the
  changed template at most 0.3 s more; these two best of 10 runs taken in turns), a full
  lint after a change to the sender every template uses, and the peak RSS (goal: 150 MiB);

and prints them in a table with the peak RSS of the lint run and a description of the machine.
This is a script that prints figures, not a test: it asserts nothing and always exits 0 unless a
command it runs fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _machine import machine_rows

LINT_GOAL_DOCS_PER_S = 2000
STARTUP_GOAL_MS = 150
QUICK_REPEAT = 10  # runs of the pre-commit and one-template lints (under a second each)

# --------------------------------------------------------------------------------------------
# Repo generation
# --------------------------------------------------------------------------------------------

# Market groups a sender or a consent scope serves; a template targets a subset of one group.
REGIONS: dict[str, list[str]] = {
    "us": ["US"],
    "na": ["US", "CA"],
    "uk": ["GB", "IE"],
    "eu": ["DE", "FR", "ES", "NL"],
    "in": ["IN"],
    "apac": ["AU", "NZ", "SG"],
    "latam": ["BR", "MX"],
}
LOCALES = {
    "US": "en_US",
    "CA": "en_CA",
    "GB": "en_GB",
    "IE": "en_IE",
    "DE": "de_DE",
    "FR": "fr_FR",
    "ES": "es_ES",
    "NL": "nl_NL",
    "IN": "en_IN",
    "AU": "en_AU",
    "NZ": "en_NZ",
    "SG": "en_SG",
    "BR": "pt_BR",
    "MX": "es_MX",
}
BRANDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"]

# (channel, sender type, region, purposes, weight): the kinds of sender a brand registers.
SENDER_KINDS = [
    ("sms", "long_code", "us", ["marketing", "transactional"], 6),
    ("sms", "short_code", "us", ["otp"], 3),
    ("sms", "toll_free", "na", ["transactional", "otp"], 3),
    ("sms", "alphanumeric", "uk", ["marketing", "transactional"], 4),
    ("sms", "alphanumeric", "eu", ["marketing", "transactional", "otp"], 3),
    ("sms", "alphanumeric", "in", ["transactional", "otp"], 3),
    ("sms", "alphanumeric", "apac", ["marketing", "transactional", "otp"], 2),
    ("sms", "long_code", "latam", ["marketing", "transactional"], 2),
    ("whatsapp", "whatsapp", None, ["marketing", "transactional", "otp"], 2),
]
CONSENT_BY_REGION = {
    "us": "express_written",
    "na": "express_written",
    "uk": "soft_opt_in",
    "eu": "express",
    "in": "express",
    "apac": "express",
    "latam": "express",
}

# Placeholder name -> (example, max_length)
VARIABLES: dict[str, tuple[str, int]] = {
    "first_name": ("Sam", 20),
    "order_id": ("A-10293", 12),
    "eta": ("Friday", 10),
    "date": ("12 Mar", 10),
    "time": ("14:30", 5),
    "amount": ("$42.10", 10),
    "last4": ("4821", 4),
    "window": ("9am-1pm", 12),
    "party_size": ("4", 2),
    "code": ("482913", 6),
    "minutes": ("10", 2),
    "percent": ("20", 2),
    "promo_code": ("SPRING20", 10),
    "end_date": ("Sunday", 10),
    "slug": ("sale", 12),
    "plan": ("Premium", 14),
    "balance": ("$12.00", 10),
    "ticket": ("T-88213", 10),
    "city": ("Leeds", 16),
}

BODIES: dict[str, list[str]] = {
    "transactional": [
        "{brand}: order {{{{order_id}}}} has shipped and arrives {{{{eta}}}}. "
        "Track: {domain}/t/{{{{order_id}}}}",
        "{brand}: your appointment on {{{{date}}}} at {{{{time}}}} is confirmed. "
        "Reply C to cancel.",
        "{brand}: payment of {{{{amount}}}} received for the account ending {{{{last4}}}}. "
        "Thank you.",
        "Hi {{{{first_name}}}}, your {brand} delivery {{{{order_id}}}} arrives today between "
        "{{{{window}}}}.",
        "{brand}: your table for {{{{party_size}}}} on {{{{date}}}} at {{{{time}}}} is booked.",
        "{brand}: a refund of {{{{amount}}}} for order {{{{order_id}}}} was issued today.",
        "{brand}: your {{{{plan}}}} plan renews on {{{{date}}}}. Balance: {{{{balance}}}}. "
        "Manage it at {domain}/account",
        "{brand}: support ticket {{{{ticket}}}} was updated. Details: {domain}/help/{{{{ticket}}}}",
    ],
    "otp": [
        "{{{{code}}}} is your {brand} verification code. Valid for {{{{minutes}}}} minutes. "
        "Do not share it.",
        "{brand}: use {{{{code}}}} to sign in. Never share this code; we will never ask for it.",
        "Your {brand} security code is {{{{code}}}}. It expires in 10 minutes.",
    ],
    "marketing": [
        "{brand}: {{{{first_name}}}}, {{{{percent}}}}% off everything with code "
        "{{{{promo_code}}}} until {{{{end_date}}}}. Shop: {domain}/sale",
        "{brand}: new arrivals are in! Members get early access until {{{{end_date}}}}: "
        "{domain}/new",
        "{brand}: {{{{first_name}}}}, your favourites are back in stock. Shop: "
        "{domain}/{{{{slug}}}}",
        "{brand}: our {{{{city}}}} store opens on {{{{date}}}}. Come by for {{{{percent}}}}% "
        "off your first visit.",
    ],
}
# A few bodies in the market's language, so that not everything is English.
LOCAL_BODIES: dict[str, dict[str, str]] = {
    "DE": {
        "transactional": "{brand}: Bestellung {{{{order_id}}}} ist unterwegs und kommt "
        "{{{{eta}}}} an.",
        "otp": "{{{{code}}}} ist dein {brand}-Code. Gib ihn nicht weiter.",
    },
    "BR": {
        "transactional": "{brand}: o pedido {{{{order_id}}}} foi enviado e chega {{{{eta}}}}.",
        "otp": "{brand}: seu codigo de acesso e {{{{code}}}}. Nao compartilhe.",
    },
    "MX": {
        "transactional": "{brand}: tu pedido {{{{order_id}}}} va en camino y llega {{{{eta}}}}.",
        "otp": "{brand}: tu codigo es {{{{code}}}}. No lo compartas.",
    },
}
OPT_OUT = {
    "us": "Reply STOP to cancel.",
    "na": "Reply STOP to cancel.",
    # alphanumeric senders cannot take replies: the keyword goes to a short code
    "uk": "Text STOP to 60777 to opt out.",
    "eu": "Text STOP to 60777 to opt out.",
    "apac": "Text STOP to 60777 to opt out.",
    "latam": "Text STOP to 60777 to opt out.",
}
# WhatsApp authentication templates hold Meta's preset text only
WHATSAPP_OTP = "{{{{code}}}} is your verification code. For your security, do not share this code."
PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


@dataclass
class Sender:
    id: str
    brand: str
    channel: str
    type: str
    region: str | None
    markets: list[str]
    purposes: list[str]


@dataclass
class Scope:
    id: str
    channel: str
    region: str
    markets: list[str]


@dataclass
class Repo:
    root: Path
    template_files: list[Path] = field(default_factory=list)
    senders: int = 0
    scopes: int = 0


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def make_senders(rng: random.Random, count: int) -> list[Sender]:
    kinds = [k for k in SENDER_KINDS for _ in range(k[4])]
    senders = []
    for i in range(count):
        # every kind once first, so that each channel and region has a sender
        channel, stype, region, purposes, _ = (
            SENDER_KINDS[i] if i < len(SENDER_KINDS) else rng.choice(kinds)
        )
        brand = BRANDS[i % len(BRANDS)]
        if region is None:  # WhatsApp numbers serve several regions
            markets = sorted({m for r in rng.sample(sorted(REGIONS), 3) for m in REGIONS[r]})
        else:
            markets = REGIONS[region]
        label = region or "global"
        senders.append(
            Sender(
                f"{brand}-{channel}-{label}-{stype.replace('_', '')}-{i:02d}",
                brand,
                channel,
                stype,
                region,
                markets,
                list(purposes),
            )
        )
    return senders


def sender_yaml(rng: random.Random, s: Sender, n: int) -> str:
    address = {
        "long_code": f'"+1415555{n:04d}"' if s.region in ("us", "na") else f'"+5511955{n:04d}"',
        "short_code": f'"{55100 + n}"',
        "toll_free": f'"+1888555{n:04d}"',
        "alphanumeric": s.brand.upper()[:11],
        "whatsapp": f'"+1415666{n:04d}"',
    }[s.type]
    lines = [
        "kind: sender",
        f"id: {s.id}",
        f"channel: {s.channel}",
        f"type: {s.type}",
        f"address: {address}",
        f"brand: {s.brand.capitalize()}",
        f"markets: {flow(s.markets)}",
        f"purposes: {flow(s.purposes)}",
    ]
    if s.type in ("long_code", "toll_free") and s.region in ("us", "na"):
        program = "10dlc" if s.type == "long_code" else "toll_free"
        use_case = "MIXED" if "marketing" in s.purposes else "ACCOUNT_NOTIFICATION"
        lines += [
            "registrations:",
            "  US:",
            f"    program: {program}",
            f"    brand_id: B{s.brand.upper()[:5]}{n:02d}",
            f"    campaign_id: C{s.brand.upper()[:5]}{n:02d}",
            f"    use_case: {use_case}",
            "    status: active",
        ]
    elif s.region == "in":
        lines += [
            "registrations:",
            "  IN:",
            "    program: dlt",
            f"    header: {s.brand.upper()[:6]}",
            f'    entity_id: "{rng.randrange(10**18, 10**19)}"',
            "    status: active",
        ]
    if s.channel == "sms":
        brand = s.brand.capitalize()
        help_text = (
            f"{brand}: help at {s.brand}.example/help. Msg&data rates may apply. "
            "Reply STOP to cancel."
        )
        stop_text = f"{brand}: you are unsubscribed and will get no more messages."
        lines += ["replies:", f"  help: {q(help_text)}", f"  stop: {q(stop_text)}"]
    return "\n".join(lines) + "\n"


def make_scopes(senders: list[Sender], count: int) -> list[Scope]:
    """Marketing consent scopes, first one per (channel, region) a marketing sender serves."""
    pairs = []
    for s in senders:
        if "marketing" not in s.purposes:
            continue
        regions = (
            [s.region]
            if s.region
            else [r for r, ms in REGIONS.items() if set(ms) <= set(s.markets)]
        )
        for region in regions:
            if (s.channel, region) not in pairs:
                pairs.append((s.channel, region))
    for region in REGIONS:  # push notifications need consent too
        pairs.append(("push", region))
    scopes = []
    for i in range(count):
        channel, region = pairs[i % len(pairs)]
        scopes.append(Scope(f"{channel}-{region}-offers-{i:02d}", channel, region, REGIONS[region]))
    return scopes


def scope_yaml(sc: Scope) -> str:
    consent = CONSENT_BY_REGION[sc.region] if sc.channel != "push" else "express"
    lines = [
        "kind: consent_scope",
        f"id: {sc.id}",
        # a WhatsApp opt-in covers every template category the business sends
        "purposes: [marketing, transactional, otp]"
        if sc.channel == "whatsapp"
        else "purposes: [marketing]",
        f"channels: {flow([sc.channel])}",
        f"markets: {flow(sc.markets)}",
        f"consent: {consent}",
    ]
    if consent == "soft_opt_in":
        lines += ["basis: purchase", "expires_after: P2Y"]
    lines += [
        "capture:",
        f"  - source: {sc.channel}-signup-{sc.region}",
        f"    url: https://brand.example/{sc.region}/signup",
        "    text: >-",
        "      I agree to receive recurring automated marketing messages at the number or",
        "      device provided. Consent is not a condition of purchase. Msg frequency",
        "      varies. Msg & data rates may apply. Reply STOP to cancel.",
    ]
    return "\n".join(lines) + "\n"


def body_for(
    rng: random.Random, brand: str, purpose: str, channel: str, region: str, markets: list[str]
) -> str:
    local = LOCAL_BODIES.get(markets[0], {}) if len(markets) == 1 else {}
    if channel == "whatsapp" and purpose == "otp":
        pattern = WHATSAPP_OTP
    elif purpose in local and rng.random() < 0.5:
        pattern = local[purpose]
    else:
        pattern = rng.choice(BODIES[purpose])
    body = pattern.format(brand=brand.capitalize(), domain=f"{brand}.example")
    if purpose == "marketing" and channel == "sms":
        body += "\n" + OPT_OUT.get(region, "Text STOP to 60777 to opt out.")
    return body


def template_yaml(
    rng: random.Random,
    tid: str,
    brand: str,
    channel: str,
    purpose: str,
    markets: list[str],
    region: str,
    sender: Sender | None,
    scope: Scope | None,
    fallback: str | None,
) -> str:
    body = body_for(rng, brand, purpose, channel, region, markets)
    names = list(dict.fromkeys(PLACEHOLDER.findall(body)))
    if channel == "whatsapp":  # WhatsApp parameters are numbered
        for n, name in enumerate(names, 1):
            body = body.replace("{{" + name + "}}", "{{" + str(n) + "}}")
        variables = {str(n): VARIABLES[name] for n, name in enumerate(names, 1)}
    else:
        variables = {name: VARIABLES[name] for name in names}

    lines = [
        "kind: template",
        f"id: {tid}",
        f"channel: {channel}",
        f"purpose: {purpose}",
        f"markets: {flow(markets)}",
    ]
    if sender:
        lines.append(f"sender: {sender.id}")
    if scope:
        lines.append(f"consent_scope: {scope.id}")
    if fallback:
        lines.append(f"fallback: {fallback}")
    lines.append(f"locale: {LOCALES[markets[0]]}")
    lines.append(f"status: {'approved' if rng.random() < 0.85 else 'draft'}")
    if channel == "push":
        lines.append(f"subject: {q(brand.capitalize() + ' update')}")
    if channel == "whatsapp" and purpose != "otp":
        lines.append(f"header: {q('Your ' + brand.capitalize() + ' account')}")
    if "\n" in body and rng.random() < 0.5:
        lines.append("body: |-")
        lines += ["  " + line for line in body.split("\n")]
    else:
        lines.append(f"body: {q(body)}")
    if channel == "whatsapp" and purpose == "otp":
        lines.append("footer: This code expires in 10 minutes.")
    elif channel == "whatsapp":
        lines.append(f"footer: {brand.capitalize()} Inc.")
        if purpose != "otp" and rng.random() < 0.5:
            lines += [
                "buttons:",
                "  - type: url",
                "    text: Open",
                f"    url: https://{brand}.example/app",
            ]
    if variables:
        lines.append("variables:")
        for name, (example, max_length) in variables.items():
            lines.append(f"  {name}: {{example: {q(example)}, max_length: {max_length}}}")
    if channel == "sms" and "IN" in markets:
        category = "promotional" if purpose == "marketing" else "service_implicit"
        lines += [
            "registrations:",
            "  IN:",
            f'    dlt_template_id: "{rng.randrange(10**18, 10**19)}"',
            f"    category: {category}",
            f"    content: {q(PLACEHOLDER.sub('{#var#}', body))}",
        ]
    elif channel == "whatsapp":
        category = {"marketing": "MARKETING", "transactional": "UTILITY", "otp": "AUTHENTICATION"}[
            purpose
        ]
        lines += [
            "registrations:",
            "  whatsapp:",
            f"    name: {tid.replace('-', '_')}",
            f"    category: {category}",
            f"    language: {LOCALES[markets[0]]}",
            "    status: APPROVED",
        ]
    return "\n".join(lines) + "\n"


def generate_repo(root: Path, templates: int, senders: int, scopes: int, seed: int) -> Repo:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    (root / "compliance.yaml").write_text("fail_on: never\n", encoding="utf-8")
    repo = Repo(root)

    all_senders = make_senders(rng, senders)
    (root / "senders").mkdir(exist_ok=True)
    for n, s in enumerate(all_senders):
        (root / "senders" / f"{s.id}.yaml").write_text(sender_yaml(rng, s, n), encoding="utf-8")
    repo.senders = len(all_senders)

    all_scopes = make_scopes(all_senders, scopes)
    (root / "scopes").mkdir(exist_ok=True)
    for sc in all_scopes:
        (root / "scopes" / f"{sc.id}.yaml").write_text(scope_yaml(sc), encoding="utf-8")
    repo.scopes = len(all_scopes)

    by_channel: dict[str, list[Sender]] = {}
    for s in all_senders:
        by_channel.setdefault(s.channel, []).append(s)
    sms_templates: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for i in range(templates):
        channel = rng.choices(["sms", "whatsapp", "push"], weights=[80, 12, 8])[0]
        if channel == "push":
            sender = None
            brand = rng.choice(BRANDS)
            region = rng.choice(sorted(REGIONS))
            purpose = rng.choice(["transactional", "marketing"])
            pool = REGIONS[region]
        else:
            sender = rng.choice(by_channel[channel])
            brand = sender.brand
            purpose = rng.choice(sender.purposes)
            if sender.region:
                region, pool = sender.region, sender.markets
            else:
                region = rng.choice(
                    [r for r, ms in REGIONS.items() if set(ms) <= set(sender.markets)]
                )
                pool = REGIONS[region]
        k = 1 if rng.random() < 0.7 else rng.randint(1, len(pool))
        markets = sorted(rng.sample(pool, k))
        scope = None
        if purpose == "marketing" or channel == "whatsapp":
            fits = [
                sc for sc in all_scopes if sc.channel == channel and set(markets) <= set(sc.markets)
            ]
            scope = rng.choice(fits) if fits else None
        tid = f"{brand}-{purpose}-{channel}-{i:05d}"
        fallback = None
        if channel == "whatsapp" and rng.random() < 0.4:
            candidates = sms_templates.get((purpose, tuple(markets)))
            fallback = rng.choice(candidates) if candidates else None
        elif channel == "sms":
            sms_templates.setdefault((purpose, tuple(markets)), []).append(tid)
        folder = root / "templates" / brand
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{tid}.yaml"
        path.write_text(
            template_yaml(
                rng, tid, brand, channel, purpose, markets, region, sender, scope, fallback
            ),
            encoding="utf-8",
        )
        repo.template_files.append(path)
    return repo


PRECOMMIT_SENDER = """\
kind: sender
id: trailhead-10dlc
channel: sms
type: long_code
address: "+13125550142"
brand: Trailhead
markets: [US]
purposes: [marketing, transactional]
registrations:
  US:
    program: 10dlc
    brand_id: BTRL4X2
    campaign_id: CTRL9Q7
    use_case: MIXED
    status: active
replies:
  help: >-
    Trailhead: help at trailhead.example/help or 1-833-555-0117. Msg & data rates may apply.
    Reply STOP to cancel.
  stop: "Trailhead: You are unsubscribed and will receive no more messages. Reply START to rejoin."
"""
PRECOMMIT_SCOPE = """\
kind: consent_scope
id: us-sms-offers
purposes: [marketing]
channels: [sms, mms]
markets: [US]
consent: express_written
capture:
  - source: web-checkout
    url: https://trailhead.example/checkout
    text: >-
      By checking this box, I agree to receive recurring automated marketing texts from Trailhead
      at the number provided. Consent is not a condition of purchase. Msg frequency varies. Msg &
      data rates may apply. Reply HELP for help, STOP to cancel. Terms: trailhead.example/sms-terms,
      Privacy: trailhead.example/privacy.
"""
GOODS = ["tents", "boots", "jackets", "sleeping bags", "stoves", "packs", "headlamps", "socks"]


def generate_us_marketing_repo(root: Path, templates: int, seed: int) -> list[Path]:
    """The shape of a large single-market repo: `templates` US marketing SMS templates, one
    10DLC sender and one consent scope, `markets: [US]`; every template is clean."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    (root / "compliance.yaml").write_text("fail_on: error\n", encoding="utf-8")
    for folder, name, text in (
        ("senders", "trailhead-10dlc.yaml", PRECOMMIT_SENDER),
        ("scopes", "us-sms-offers.yaml", PRECOMMIT_SCOPE),
    ):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / name).write_text(text, encoding="utf-8")
    (root / "templates").mkdir(exist_ok=True)
    files = []
    for i in range(templates):
        pct, goods = rng.choice([10, 15, 20, 25, 30, 40]), rng.choice(GOODS)
        path = root / "templates" / f"offer-{i:05d}.yaml"
        path.write_text(
            f"kind: template\nid: offer-{i:05d}\nchannel: sms\npurpose: marketing\n"
            "markets: [US]\nsender: trailhead-10dlc\nconsent_scope: us-sms-offers\n"
            f'status: approved\nbody: "Trailhead: {pct}% off {goods} through Sunday, code '
            '{{code}}. Shop trailhead.example/sale. Reply STOP to opt out."\n'
            f"variables:\n  code: {{example: SAVE{pct}, max_length: 10}}\n",
            encoding="utf-8",
        )
        files.append(path)
    return files


def touch_content(path: Path, n: int) -> None:
    """Change a file's content (a comment line), as an edit would, leaving its meaning."""
    text = path.read_text(encoding="utf-8").split("\n# edit ")[0].rstrip("\n")
    path.write_text(f"{text}\n# edit {n}\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    maxrss_kib: int  # of this child alone (os.wait4), in KiB on Linux


def run_once(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `cmd` to completion; raise with its stderr if it fails. Wall clock, and peak RSS from
    os.wait4, which reports this child's own rusage rather than the maximum over all children."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {proc.returncode}:\n{tail}")
    return Run(seconds, usage.ru_maxrss)


def best_of(cmd: list[str], repeat: int, cwd: Path | None = None) -> Run:
    runs = [run_once(cmd, cwd) for _ in range(repeat)]
    return Run(min(r.seconds for r in runs), max(r.maxrss_kib for r in runs))


def batches(args: list[str], fixed: list[str]) -> list[list[str]]:
    """Split `args` like xargs does, so that `fixed + batch` fits the kernel's ARG_MAX with the
    current environment (each argument costs its bytes, a NUL and a pointer)."""
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = 128 * 1024
    env = sum(len(k) + len(v) + 2 + 8 for k, v in os.environ.items())
    budget = arg_max - env - sum(len(a) + 1 + 8 for a in fixed) - 16 * 1024  # headroom
    out: list[list[str]] = [[]]
    used = 0
    for a in args:
        cost = len(os.fsencode(a)) + 1 + 8
        if out[-1] and used + cost > budget:
            out.append([])
            used = 0
        out[-1].append(a)
        used += cost
    return out


def time_batched(fixed: list[str], args: list[str], repeat: int) -> tuple[float, int]:
    """Best over `repeat` passes of the summed time of all batches; and the batch count."""
    groups = batches(args, fixed)
    best = min(sum(run_once(fixed + g).seconds for g in groups) for _ in range(repeat))
    return best, len(groups)


def script(name: str) -> str | None:
    """The console script installed with this interpreter (not a pyenv shim), else PATH's."""
    here = Path(sysconfig.get_path("scripts")) / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(name)


PRECOMMIT_EXTRA_GOAL_S = 0.3  # one changed template in the big repo, over a one-template repo
ONE_TEMPLATE_GOAL_S = 0.5
COLD_RATIO_GOAL = 0.5  # of check-jsonschema's time on the same files
PEAK_GOAL_MIB = 150


def precommit_rows(
    compliance: str, cjs: str | None, tmp: Path, templates: int, repeat: int, seed: int
) -> list[tuple[str, str, str]]:
    """The pre-commit figures, on a repo of `templates` US marketing templates (one sender, one
    scope), with a user cache folder of their own: a full lint cold (no lint cache, no copy of
    the rule packs) against check-jsonschema on the same templates, a full lint with a warm
    cache, one changed template linted alone (what pre-commit runs), a one-template repo, and a
    full lint after a change to the sender every template uses."""
    big, one = tmp / "us-marketing", tmp / "one-template"
    files = generate_us_marketing_repo(big, templates, seed)
    generate_us_marketing_repo(one, 1, seed)
    user_cache = tmp / "user-cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(user_cache)}
    report = tmp / "precommit.json"
    full = [compliance, "lint", ".", "--format", "json", "-o", str(report)]

    def run(cmd: list[str], cwd: Path) -> Run:
        return run_once(cmd, cwd=cwd, env=env)

    def best(runs: list[Run]) -> Run:
        return Run(min(r.seconds for r in runs), max(r.maxrss_kib for r in runs))

    def cold() -> Run:
        shutil.rmtree(big / ".compliance_cache", ignore_errors=True)
        shutil.rmtree(user_cache, ignore_errors=True)
        return run(full, big)

    print("timing the pre-commit figures ...", file=sys.stderr)
    cold_run = best([cold() for _ in range(repeat)])
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    no_cache = best([run([*full, "--no-cache"], big) for _ in range(repeat)])
    one_core = best([run([*full, "--no-cache", "--jobs", "1"], big) for _ in range(repeat)])
    warm = best([run(full, big) for _ in range(repeat)])
    changed = files[len(files) // 2]
    rel = str(changed.relative_to(big))
    lint_one = [compliance, "lint", "templates/offer-00000.yaml"]
    run(lint_one, one)  # its cache, as pre-commit's second commit finds it
    # the two sub-second figures whose difference is a goal: more runs, taken in turns, so
    # that a slower spell of a shared machine falls on both alike
    quick = max(repeat, QUICK_REPEAT)
    edits, alones = [], []
    for n in range(quick):
        touch_content(changed, n)
        edits.append(run([compliance, "lint", rel], big))
        alones.append(run(lint_one, one))
    edit, alone = best(edits), best(alones)
    sender = big / "senders" / "trailhead-10dlc.yaml"
    sender_runs = []
    for n in range(repeat):
        touch_content(sender, n)
        sender_runs.append(run(full, big))
    sender_run = best(sender_runs)
    docs = summary["documents"]
    extra = edit.seconds - alone.seconds
    rows = [
        (
            "pre-commit repo",
            f"{docs:,} documents",
            f"{templates:,} US marketing templates, 1 sender, 1 scope; "
            f"{summary['errors']} errors, {summary['warnings']} warnings",
        ),
        (
            f"full lint, cold (best of {repeat})",
            f"{cold_run.seconds:.2f} s",
            f"{rate(docs, cold_run.seconds)}; all cores, no lint cache and no copy of the packs "
            "yet (both written)",
        ),
        (
            "full lint, --no-cache",
            f"{no_cache.seconds:.2f} s",
            f"all cores; --jobs 1: {one_core.seconds:.2f} s "
            f"({one_core.seconds / no_cache.seconds:.2f}x as long)",
        ),
    ]
    if cjs:
        schema = tmp / "template.schema.json"
        if not schema.exists():
            schema.write_bytes(
                subprocess.run(
                    [compliance, "schema", "template"], check=True, capture_output=True
                ).stdout
            )
        cjs_seconds, n_batches = time_batched(
            [cjs, "--schemafile", str(schema)], [str(f) for f in files], repeat
        )
        ratio = cold_run.seconds / cjs_seconds
        rows += [
            (
                "check-jsonschema, same templates",
                f"{cjs_seconds:.2f} s",
                f"{n_batches} batch{'es' if n_batches > 1 else ''}; schema only",
            ),
            (
                "full lint cold / check-jsonschema",
                f"{ratio:.2f}x",
                f"goal <= {COLD_RATIO_GOAL}x: {'met' if ratio <= COLD_RATIO_GOAL else 'NOT met'}",
            ),
        ]
    else:
        rows.append(("check-jsonschema", "skipped", "not installed: no ratio"))
    peak = max(r.maxrss_kib for r in (cold_run, no_cache, warm, edit, sender_run)) / 1024
    rows += [
        (
            "full lint, warm cache",
            f"{warm.seconds:.2f} s",
            f"best of {repeat}, nothing changed since the last run",
        ),
        (
            "one changed template (pre-commit)",
            f"{edit.seconds:.2f} s",
            f"best of {quick}, warm cache, the file edited before each run",
        ),
        (
            "one-template repo",
            f"{alone.seconds:.2f} s",
            f"best of {quick}, in turns with the runs above, warm cache; "
            f"goal < {ONE_TEMPLATE_GOAL_S} s: "
            f"{'met' if alone.seconds < ONE_TEMPLATE_GOAL_S else 'NOT met'}",
        ),
        (
            "pre-commit over one-template repo",
            f"+{extra:.2f} s",
            f"goal <= +{PRECOMMIT_EXTRA_GOAL_S} s: "
            f"{'met' if extra <= PRECOMMIT_EXTRA_GOAL_S else 'NOT met'}",
        ),
        (
            "sender changed, full lint",
            f"{sender_run.seconds:.2f} s",
            f"best of {repeat}, warm cache; the sender every template uses edited before each "
            "run: every template is checked again",
        ),
        (
            "pre-commit repo peak RSS",
            f"{peak:.0f} MiB",
            f"largest process over these runs; goal <= {PEAK_GOAL_MIB} MiB: "
            f"{'met' if peak <= PEAK_GOAL_MIB else 'NOT met'}",
        ),
    ]
    return rows


# --------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------


def yaml_info() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ruamel = version("ruamel.yaml")
    except PackageNotFoundError:
        return "ruamel.yaml not installed"
    try:
        clib = "clib " + version("ruamel.yaml.clib")
    except PackageNotFoundError:
        clib = "no clib"
    from compliance import yamlcore  # what compliance's own loader ended up with

    c_in_use = yamlcore._CParser is not None
    return f"ruamel.yaml {ruamel}, {clib}, C parser {'in use' if c_in_use else 'NOT in use'}"


def machine() -> list[tuple[str, str, str]]:
    return [*machine_rows(), ("yaml", yaml_info(), "")]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, str, str]]) -> str:
    """Left-aligned columns; a row whose detail is empty lets its value run on."""
    w0 = max(len(r[0]) for r in rows)
    w1 = max((len(r[1]) for r in rows if r[2]), default=0)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)


def rate(docs: int, seconds: float) -> str:
    return f"{docs / seconds:,.0f} docs/s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--templates",
        type=int,
        default=10_000,
        metavar="N",
        help="templates to generate (default: 10000)",
    )
    p.add_argument(
        "--senders",
        type=int,
        default=50,
        metavar="N",
        help=f"senders (default: 50; at least {len(SENDER_KINDS)})",
    )
    p.add_argument(
        "--scopes", type=int, default=20, metavar="N", help="consent scopes (default: 20)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs of each timed command; the best is kept (default: 3)",
    )
    p.add_argument(
        "--startup-runs",
        type=int,
        default=10,
        metavar="N",
        help="runs of each startup command; the best is kept (default: 10)",
    )
    p.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="generate the repo in DIR and keep it (default: a temp folder)",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the figures to FILE as JSON (rows and machine), for bench/run.py",
    )
    args = p.parse_args(argv)
    if args.templates < 1 or args.repeat < 1 or args.startup_runs < 1 or args.scopes < 0:
        p.error("--templates, --repeat and --startup-runs must be at least 1, --scopes 0")
    if args.senders < len(SENDER_KINDS):
        p.error(f"--senders must be at least {len(SENDER_KINDS)}, one of each kind")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compliance = script("compliance")
    if compliance is None:
        sys.exit("compliance is not installed (pip install -e .)")

    with tempfile.TemporaryDirectory(prefix="lint-speed-") as tmp:
        root = args.out.resolve() if args.out else Path(tmp) / "repo"
        if args.out and root.exists() and any(root.iterdir()):
            sys.exit(f"{root} is not empty; give an empty or new folder to --out")
        t0 = time.perf_counter()
        repo = generate_repo(root, args.templates, args.senders, args.scopes, args.seed)
        print(
            f"generated {len(repo.template_files):,} templates, {repo.senders} senders, "
            f"{repo.scopes} consent scopes in {root} "
            f"({time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
        )

        report = Path(tmp) / "report.json"
        lint = [compliance, "lint", str(root), "--format", "json", "-o", str(report), "--no-cache"]
        print("timing compliance lint ...", file=sys.stderr)
        lint_all = best_of(lint, args.repeat)
        result = json.loads(report.read_text(encoding="utf-8"))
        summary, docs = result["summary"], result["summary"]["documents"]
        by_rule = Counter(f["rule"] for f in result["findings"])
        taskset = shutil.which("taskset")
        lint_one = best_of([taskset, "-c", "0", *lint], args.repeat) if taskset else None

        cjs = script("check-jsonschema")
        cjs_result = None
        if cjs:
            print("timing check-jsonschema ...", file=sys.stderr)
            schema = Path(tmp) / "template.schema.json"
            schema.write_bytes(
                subprocess.run(
                    [compliance, "schema", "template"], check=True, capture_output=True
                ).stdout
            )
            files = [str(f) for f in repo.template_files]
            cjs_result = time_batched([cjs, "--schemafile", str(schema)], files, args.repeat)

        precommit = precommit_rows(
            compliance, cjs, Path(tmp), args.templates, args.repeat, args.seed
        )
        print("timing startup ...", file=sys.stderr)
        version = best_of([compliance, "--version"], args.startup_runs)
        imp = best_of([sys.executable, "-c", "import compliance"], args.startup_runs)
        bare = best_of([sys.executable, "-c", "pass"], args.startup_runs)

    per_core = lint_one or lint_all
    goal_met = docs / per_core.seconds >= LINT_GOAL_DOCS_PER_S
    rows: list[tuple[str, str, str]] = [
        ("figure", "value", "detail"),
        (
            "documents",
            f"{docs:,}",
            f"{summary['files']:,} files; {len(repo.template_files):,} templates, {repo.senders} "
            f"senders, {repo.scopes} scopes",
        ),
        (
            "findings",
            f"{summary['errors']} E / {summary['warnings']} W / {summary['infos']:,} I",
            "errors / warnings / infos; by rule: "
            + (", ".join(f"{rule} {n:,}" for rule, n in by_rule.most_common(3)) or "none"),
        ),
        (
            f"lint, all cores (best of {args.repeat})",
            f"{lint_all.seconds:.2f} s",
            rate(docs, lint_all.seconds),
        ),
    ]
    if lint_one:
        rows.append(
            (
                f"lint, taskset -c 0 (best of {args.repeat})",
                f"{lint_one.seconds:.2f} s",
                rate(docs, lint_one.seconds),
            )
        )
    else:
        rows.append(("lint, one core", "skipped", "taskset not found"))
    rows.append(
        (
            f"goal >= {LINT_GOAL_DOCS_PER_S:,} docs/s on one core",
            "met" if goal_met else "NOT met",
            f"{docs / per_core.seconds / LINT_GOAL_DOCS_PER_S:.2f}x of the goal",
        )
    )
    peak_kib = max(lint_all.maxrss_kib, lint_one.maxrss_kib if lint_one else 0)
    rows.append(
        (
            "lint peak RSS",
            f"{peak_kib / 1024:.0f} MiB",
            "max over the lint runs (os.wait4 ru_maxrss)",
        )
    )
    if cjs_result:
        cjs_seconds, n_batches = cjs_result
        rows.append(
            (
                f"check-jsonschema (best of {args.repeat})",
                f"{cjs_seconds:.2f} s",
                f"{rate(len(repo.template_files), cjs_seconds)}; templates only, schema "
                f"only; {n_batches} batch{'es' if n_batches > 1 else ''}",
            )
        )
        rows.append(
            (
                "ratio check-jsonschema / lint",
                f"{cjs_seconds / lint_all.seconds:.2f}x",
                ">1 means compliance is faster (it also lints senders and scopes with every rule)",
            )
        )
    else:
        rows.append(("check-jsonschema", "skipped", "not installed: no ratio"))
    rows += [
        (
            f"compliance --version (best of {args.startup_runs})",
            f"{version.seconds * 1000:.0f} ms",
            f"goal < {STARTUP_GOAL_MS} ms: "
            f"{'met' if version.seconds * 1000 < STARTUP_GOAL_MS else 'NOT met'}",
        ),
        (
            'python -c "import compliance"',
            f"{imp.seconds * 1000:.0f} ms",
            f"python -c pass: {bare.seconds * 1000:.0f} ms",
        ),
    ]
    print(table(rows))
    print()
    print(table([("pre-commit figures", "value", "detail"), *precommit]))
    print()
    machine_info = machine()
    print(table([("machine", "", ""), *machine_info]))
    if args.json:
        write_json(
            args.json,
            rows,
            machine_info,
            per_core=(lint_one and "lint, taskset -c 0") or "lint, all cores",
            docs=docs,
            per_core_seconds=per_core.seconds,
            version_ms=version.seconds * 1000,
            precommit=precommit,
        )
    return 0


def write_json(
    path: Path,
    rows: list[tuple[str, str, str]],
    machine_info: list[tuple[str, str, str]],
    per_core: str,
    docs: int,
    per_core_seconds: float,
    version_ms: float,
    precommit: list[tuple[str, str, str]],
) -> None:
    """The printed figures as {"rows": [{figure, value, goal, met, detail}], "machine": [...]}.
    The lint rows give docs/s as the value (the goal's unit) and the time in the detail; the
    throughput goal, a row of its own in the printed table, goes on the row it is about; met is
    true, false, or null for a figure without a goal."""
    out = []
    for figure, value, detail in rows[1:]:
        row = {"figure": figure, "value": value, "goal": "", "met": None, "detail": detail}
        if figure.startswith("goal >="):
            continue
        if figure.startswith(("lint, all cores", "lint, taskset")):  # value in docs/s
            row["value"], row["detail"] = detail, f"{value} for {docs:,} documents"
        if figure.startswith(per_core):
            row["goal"] = f">= {LINT_GOAL_DOCS_PER_S:,} docs/s on one core"
            row["met"] = docs / per_core_seconds >= LINT_GOAL_DOCS_PER_S
            row["detail"] += f"; {docs / per_core_seconds / LINT_GOAL_DOCS_PER_S:.2f}x of the goal"
        elif figure.startswith("compliance --version"):
            row["goal"] = f"< {STARTUP_GOAL_MS} ms"
            row["met"] = version_ms < STARTUP_GOAL_MS
            row["detail"] = ""
        out.append(row)
    for figure, value, detail in precommit:  # their goals are in the detail: "goal ...: met"
        row = {"figure": figure, "value": value, "goal": "", "met": None, "detail": detail}
        goal = re.search(r"goal ([^:]+): (met|NOT met)", detail)
        if goal:
            row["goal"], row["met"] = goal.group(1), goal.group(2) == "met"
            row["detail"] = detail[: goal.start()].rstrip("; ")
        out.append(row)
    data = {"script": "lint_speed", "rows": out, "machine": [list(m) for m in machine_info]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a timed command failed: say which, with its stderr
        sys.exit(f"lint_speed: {exc}")
