"""Hostile compliance.yaml, rule files and market files: the run exits 0, 1 or 2, never 3.

tests/test_fuzz.py fuzzes the documents of a template repo; this file fuzzes the tool's own
inputs: the config file at the repo root, and the rule and market files of an extra pack that the
config lists under `packs:` (also through `compliance rules test DIR` and `rules list --config`).
Whatever they hold, the CLI must end with 0 or 1 (the files were read and the documents linted)
or with 2 and an error naming the file at fault, never with 3 (an internal error: a traceback with
COMPLIANCE_DEBUG=1, which every run here sets so that a failure shows where it came from).

Bugs these tests found are kept as tests at the end of the file, each with the failing input as
an explicit example. A bug found later is kept there as a strict xfail test until it is fixed,
and the broad tests `reject()` inputs that hit it (see `known_bug`), so that they go on guarding
everything else.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, reject, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compliance.cli import main
from compliance.errors import ComplianceError
from compliance.loader import MAX_FILE_BYTES, read_file
from compliance.packs import load_packs, shipped_pack_dir
from tests.conftest import SCOPE, SENDER, TEMPLATE
from tests.gate.test_gate import SALE
from tests.gate.test_gate import SCOPE as GATE_SCOPE
from tests.gate.test_gate import SENDER as GATE_SENDER

SHIPPED = load_packs()
RULE_IDS = sorted(SHIPPED.rules)
SHIPPED_MARKET_FILES = sorted((shipped_pack_dir() / "markets").glob("*.yaml"))
FIXTURE_PACK = Path(__file__).parent / "fixtures" / "pack"

# the documents every fuzzed repo holds: a sender, a scope and a marketing SMS in markets that
# have packs (US, FR, GB, CA, IN), one without (MX) and the fuzzed pack's own (NZ)
MARKETS = "[US, NZ, FR, GB, CA, IN, MX]"
DOCS = {
    "senders/acme.yaml": SENDER.replace("markets: [MX]", f"markets: {MARKETS}"),
    "scopes/promos.yaml": SCOPE,
    "templates/sale.yaml": TEMPLATE.replace("markets: [MX]", f"markets: {MARKETS}"),
}

# a valid market rule and the NZ market that enables it: the pack the fuzzed files replace
FUZZ_RULE = (FIXTURE_PACK / "rules" / "short-sms.yaml").read_text("utf-8")
FUZZ_RULE = FUZZ_RULE.replace("id: short-sms", "id: fuzz-rule")
FUZZ_MARKET = """\
code: NZ
name: New Zealand (fuzz)
parameters:
  keywords: {opt_out: [STOP], citations: [{source: fuzz}]}
rules:
  - rule: fuzz-rule
citations: [{source: fuzz}]
"""
RULE_PATH = "pack/rules/fuzz-rule.yaml"
MARKET_PATH = "pack/markets/nz.yaml"

CONFIG_KEYS = ["markets", "include", "exclude", "ignore", "rules", "packs", "fail_on"]
RULE_SETTING_KEYS = ["severity", "ignore", "params"]
PACK_KEYS = [
    "id",
    "summary",
    "description",
    "severity",
    "scope",
    "applies_to",
    "kinds",
    "channels",
    "purposes",
    "check",
    "kind",
    "params",
    "citations",
    "source",
    "examples",
    "context",
    "pass",
    "fail",
    "documents",
    "expect",
    "code",
    "name",
    "extends",
    "parameters",
    "rules",
    "rule",
    "quiet_hours",
    "allowed",
    "start",
    "end",
    "days",
    "regions",
    "frequency_caps",
    "keywords",
    "opt_out",
    "dated_rules",
    "timezone",
]
KEYS = CONFIG_KEYS + RULE_SETTING_KEYS + PACK_KEYS

# --- values ---------------------------------------------------------------------------------

INTERESTING = [
    "",
    " ",
    "US",
    "us",
    "ZZ",
    "EU",
    "NZ",
    "error",
    "warning",
    "info",
    "never",
    "market",
    "generic",
    "template",
    "sms",
    "marketing",
    "sms_encoding",
    "text_match",
    "fuzz-rule",
    "sms-segments",
    "pack",
    ".",
    "..",
    "/",
    "*",
    "**",
    "**/",
    "templates/**",
    "?",
    "[",
    "!",
    "P1D",
    "PT0H",
    "P9999Y",
    "08:00",
    "24:00",
    "24:59",
    "2026-02-30",
    "\x00",
    "\t",
    "\u202e",
    "\u2028",
    "\ufeff",
    "é’–👍",
    "x" * 300,
]
texts = st.text(max_size=12) | st.sampled_from(INTERESTING)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**40), 0, -1, 1, 2**63])
    | st.floats()
    | st.dates()
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

_YAML = YAML(typ="safe", pure=True)
_YAML.default_flow_style = False
STYLES = st.sampled_from(["block", "block", "json", "json-ascii"])


def dump(data: Any, style: str) -> str:
    """Data as YAML text: block style, or JSON (which is YAML too; dates become strings)."""
    if style == "json":
        return json.dumps(data, ensure_ascii=False, default=str)
    if style == "json-ascii":
        return json.dumps(data, default=str)
    out = io.StringIO()
    _YAML.dump(data, out)
    return out.getvalue()


# --- hostile text ---------------------------------------------------------------------------

VALUE_BITS = [
    "US",
    "[US, CA]",
    "[US",
    "{",
    "}",
    "[]",
    "{}",
    "&a [1, 2]",
    "&a",
    "*a",
    "*b",
    "<<: *a",
    "<<: [*a, *b]",
    "!!binary aGk=",
    "!!int x",
    "!!python/object/apply:os.system [ls]",
    "!custom x",
    "|",
    ">-",
    "'it''s'",
    '"\\u00e9"',
    '"\\ud800"',
    '"\\0"',
    "null",
    "~",
    "yes",
    "0x1F",
    "0o17",
    "1e400",
    "-.inf",
    ".nan",
    "2026-12-31",
    "2026-02-30",
    "24:00",
    "---",
    "...",
    "%YAML 1.1",
    "%TAG ! tag:x,2000:",
    "? x",
    "? [a, b]",
    "- ",
    "\t",
    "\x00",
    "\x85",
    "\ufeff",
    "\u2028",
    "é’–👍",
]
key = st.sampled_from(KEYS) | st.text(max_size=8)
fragment = st.one_of(
    key.map(lambda k: f"{k}: "),
    st.sampled_from(VALUE_BITS),
    st.text(max_size=10),
    st.sampled_from(["\n", "\n  ", "\n    ", "\n- ", ": ", ", ", "#"]),
)


def deep(name: str, depth: int, style: str) -> str:
    if style == "flow":
        return f"{name}: " + "[" * depth + "x" + "]" * depth + "\n"
    if style == "flow-map":
        return f"{name}: " + "{a: " * depth + "x" + "}" * depth + "\n"
    if style == "unclosed":
        return f"{name}: " + "[{" * depth + "\n"
    if style == "list":
        return (
            f"{name}:\n" + "".join(f"{'  ' * i}- \n" for i in range(depth)) + "  " * depth + "x\n"
        )
    lines = "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(depth))
    return f"{name}:\n{lines}{'  ' * (depth + 1)}x\n"


def huge(name: str, size: int, style: str) -> str:
    if style == "scalar":
        return f"{name}: {'x' * size}\n"
    if style == "quoted":
        return f'{name}: "{"é" * (size // 2)}"\n'
    if style == "list":
        return f"{name}: [" + "US, " * (size // 4) + "]\n"
    return f"{name}:\n" + "".join(f"  k{i}: {i}\n" for i in range(size // 10))


def dupes(name: str, value: Any, times: int) -> str:
    return "".join(f"{name}: {json.dumps(value, default=str)}\n" for _ in range(times))


def bomb(name: str, width: int, depth: int) -> str:
    """The billion laughs: `depth` levels of `width` aliases to the level below, inside `name`."""
    levels = ["&l0 [lol, lol]"]
    for i in range(1, depth + 1):
        levels.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return f"{name}: [{', '.join(levels)}]\n"


def alias_games(name: str, value: Any) -> list[str]:
    v = json.dumps(value, default=str)
    return [
        f"{name}: &a [*a]\n",
        f"{name}: &a {{k: *a}}\n",
        f"{name}: *nope\n",
        f"base: &b {{{name}: {v}}}\n<<: *b\n",
        f"<<: {{{name}: {v}}}\n",
        f"<<: [*x]\n{name}: {v}\n",
        f"{name}: &a {v}\n*a : 1\n",
        f"{name}: &a {v}\nother: *a\n",
        f"? [a, b]\n: 1\n{name}: {v}\n",
        "? {a: b}\n: 1\n",
        f"{name}: {v}\n---\n{name}: {v}\n",
        f"---\n---\n{name}: {v}\n",
        f"%YAML 1.1\n---\n{name}: yes\n",
        f"{name}: !!binary aGk=\n",
        f"{name}: !!set {{a, b}}\n",
        f"{name}: !!omap [a: 1]\n",
        f"{name}: !!timestamp 2026-13-45\n",
        f"- {name}\n- {v}\n",
        f"{v}\n",
        "",
        "\n\n# only a comment\n",
        "---\n",
        "~\n",
    ]


hostile_text = st.one_of(
    st.text(max_size=200),
    st.lists(fragment, max_size=40).map("".join),
    st.builds(
        deep,
        key,
        st.integers(1, 300),
        st.sampled_from(["flow", "flow-map", "unclosed", "list", "block"]),
    ),
    st.builds(
        huge,
        key,
        st.sampled_from([1000, 100_000, MAX_FILE_BYTES + 1]),
        st.sampled_from(["scalar", "quoted", "list", "map"]),
    ),
    st.builds(dupes, key, values, st.integers(2, 3)),
    st.builds(bomb, key, st.integers(1, 12), st.integers(1, 12)),
    st.builds(alias_games, key, values).flatmap(st.sampled_from),
)
hostile_bytes = st.one_of(
    st.binary(max_size=300),
    hostile_text.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),  # a BOM
    hostile_text.map(lambda t: t.encode("utf-16")),
    st.tuples(hostile_text, st.binary(min_size=1, max_size=3)).map(
        lambda p: p[0].encode("utf-8") + b"\xff" + p[1]  # invalid UTF-8 after valid text
    ),
)
hostile = hostile_text | hostile_bytes

# --- running the CLI ------------------------------------------------------------------------


@contextlib.contextmanager
def repo(files: dict[str, str | bytes], docs: dict[str, str] = DOCS) -> Iterator[Path]:
    """A throwaway template repo (with .git, so that it is its own root) holding `files`."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-inputs-"))
    try:
        (root / ".git").mkdir()
        for rel, content in {**docs, **files}.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogatepass")
            target.write_bytes(content)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(args: list[str]) -> tuple[int, str]:
    """`compliance ARGS` in this process: (exit code, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("COMPLIANCE_DEBUG", "GITHUB_ACTIONS")}
    os.environ["COMPLIANCE_DEBUG"] = "1"  # an internal error prints its traceback
    os.environ.pop("GITHUB_ACTIONS", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return code, err.getvalue()


def known_bug(err: str) -> bool:
    """An internal error an xfail test below already records (none at present: keep the hook
    for the next bug found)."""
    return False


def assert_clean_exit(code: int, err: str, blamed: list[Path], *, strict: bool = False) -> None:
    """Exit 0, 1 or 2, no traceback, and exit 2 names one of `blamed`."""
    if code == 3 and not strict and known_bug(err):
        event("rejected: a known bug")
        reject()
    event(f"exit {code}")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err, err
    if code == 2:
        assert err.startswith("error: "), err
        assert any(str(path) in err for path in blamed), err


def lint_args(root: Path, config: Path | None = None) -> list[str]:
    return ["lint", str(root), "--format", "json"] + (["--config", str(config)] if config else [])


# --- (a) compliance.yaml --------------------------------------------------------------------

CONFIG_PLACES = st.sampled_from(["compliance.yaml", ".compliance.yaml", "etc/custom.yaml"])


def config_run(root: Path, place: str) -> tuple[int, str, Path]:
    config = root / place
    code, err = run(lint_args(root, config if place.startswith("etc/") else None))
    return code, err, config


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=10), values, max_size=6)
    | values,
    style=STYLES,
    place=CONFIG_PLACES,
)
def test_config_of_random_structure(data, style, place):
    with repo({place: dump(data, style)}) as root:
        code, err, config = config_run(root, place)
        assert_clean_exit(code, err, [config])


globs = st.lists(
    st.sampled_from(["templates", "templates/**", "**/*.yaml", "*.yml", "/senders", "!x", "["])
    | texts
    | values,
    max_size=4,
)
market_codes = st.lists(
    st.sampled_from(["US", "CA", "GB", "FR", "NZ", "ZZ", "us", "EU", "XK", "U S"]) | values,
    max_size=4,
)


@st.composite
def rule_settings(draw: st.DrawFn) -> Any:
    """The `rules:` mapping: rule ids, mostly real, with settings of right and wrong types and
    check parameters mutated from the rule's own."""
    ids = draw(st.lists(st.sampled_from(RULE_IDS) | st.text(max_size=8), max_size=3, unique=True))
    out: dict[str, Any] = {}
    for rule_id in ids:
        if draw(st.integers(0, 9)) == 0:
            out[rule_id] = draw(values)
            continue
        setting: dict[str, Any] = {}
        if draw(st.booleans()):
            setting["severity"] = draw(
                st.sampled_from(["error", "warning", "info", "high"]) | values
            )
        if draw(st.booleans()):
            setting["ignore"] = draw(st.booleans() | globs | values)
        if draw(st.booleans()):
            rule = SHIPPED.rules.get(rule_id)
            base = dict(rule.model.check.params) if rule else {}
            setting["params"] = draw(mutations(base)) if base else draw(values)
        if draw(st.integers(0, 9)) == 0:
            setting[draw(st.text(max_size=8))] = draw(values)
        out[rule_id] = setting
    return out


known_keys_config = st.fixed_dictionaries(
    {},
    optional={
        "markets": market_codes | values,
        "include": globs | values,
        "exclude": globs | values,
        "ignore": st.lists(st.sampled_from(RULE_IDS) | texts, max_size=3) | values,
        "rules": rule_settings() | values,
        "packs": st.lists(
            st.sampled_from(["pack", ".", "..", "/", "nope", "pack/rules", ""]), max_size=2
        )
        | values,
        "fail_on": st.sampled_from(["error", "warning", "info", "never", "ERROR"]) | values,
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=known_keys_config, style=STYLES, place=CONFIG_PLACES, pack=st.booleans())
def test_config_with_every_known_key_of_right_and_wrong_types(data, style, place, pack):
    files = {place: dump(data, style)}
    if pack:  # `packs: [pack]` then names a real pack
        files.update({RULE_PATH: FUZZ_RULE, MARKET_PATH: FUZZ_MARKET})
    with repo(files) as root:
        code, err, config = config_run(root, place)
        assert_clean_exit(code, err, [config])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(["config", "rule", "market"]), content=hostile)
def test_hostile_yaml_in_config_rule_and_market_files(target, content):
    """Random unicode, deep nesting, huge scalars, duplicate keys, anchors, alias bombs, tags,
    several documents, non-UTF-8 bytes: in the config, a pack's rule file or its market file."""
    files: dict[str, str | bytes] = {
        "compliance.yaml": "packs: [pack]\n",
        RULE_PATH: FUZZ_RULE,
        MARKET_PATH: FUZZ_MARKET,
    }
    place = {"config": "compliance.yaml", "rule": RULE_PATH, "market": MARKET_PATH}[target]
    files[place] = content
    with repo(files) as root:
        code, err = run(lint_args(root))
        assert_clean_exit(code, err, [root / place])


# --- (b) pack files -------------------------------------------------------------------------


def _data(path: Path) -> Any:
    return read_file(path, str(path), sniff=False).documents[0].data


RULE_DATA = {rule_id: _data(rule.path) for rule_id, rule in SHIPPED.rules.items()}
MARKET_DATA = [_data(path) for path in SHIPPED_MARKET_FILES] + [
    _data(FIXTURE_PACK / "markets" / "nz.yaml")
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def same_kind(draw: st.DrawFn, value: Any) -> Any:
    """Another value of the same type: what passes the type checks and reaches the checks."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.integers(-3, 400) | st.integers())
    if isinstance(value, str):
        return draw(texts)
    if isinstance(value, dt.date):
        return draw(st.dates())
    if isinstance(value, list):
        if not value:
            return [draw(values)]
        return draw(st.lists(st.sampled_from(value), max_size=len(value) + 2))
    if isinstance(value, dict):
        return {**value, draw(st.sampled_from(KEYS) | st.text(max_size=8)): draw(values)}
    return draw(values)


@st.composite
def mutations(draw: st.DrawFn, base: Any, most: int = 3) -> Any:
    """`base` with up to `most` changes: a value replaced by one of the same type or of any
    type, a key or item deleted, a key or item added. Few changes, so that many mutants still
    load and their parameters reach the checks."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, most))):
        path = draw(st.sampled_from(list(_paths(data))))
        op = draw(st.sampled_from(["same", "same", "any", "delete", "add"]))
        target = _get(data, path)
        if op == "add" and isinstance(target, dict):
            target[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = draw(values)
        elif op == "add" and isinstance(target, list):
            target.append(
                copy.deepcopy(target[0]) if target and draw(st.booleans()) else draw(values)
            )
        elif op == "delete" and path:
            del _get(data, path[:-1])[path[-1]]
        elif not path:
            data = draw(same_kind(data)) if op == "same" else draw(values)
        else:
            new = draw(same_kind(target)) if op == "same" else draw(values)
            _get(data, path[:-1])[path[-1]] = new
    return data


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(RULE_IDS),
    data=st.data(),
    command=st.sampled_from(["lint", "lint", "rules-test", "rules-list"]),
    style=st.sampled_from(["block", "block", "json"]),
)
def test_mutated_rule_file_in_a_pack(base, data, command, style):
    """A shipped rule copied into a user pack (as fuzz-rule, enabled in NZ when it is a market
    rule) with a few of its values changed, deleted or added."""
    rule = {**RULE_DATA[base], "id": "fuzz-rule"}
    mutant = data.draw(mutations(rule), label="rule")
    market = {"code": "NZ", "name": "NZ (fuzz)", "citations": [{"source": "fuzz"}]}
    if rule.get("scope", "market") == "market":
        market["rules"] = [{"rule": "fuzz-rule"}]
    files = {
        "compliance.yaml": "packs: [pack]\n",
        RULE_PATH: dump(mutant, style),
        MARKET_PATH: dump(market, "block"),
    }
    with repo(files) as root:
        config, pack = root / "compliance.yaml", root / "pack"
        args = {
            "lint": lint_args(root),
            "rules-test": ["rules", "test", str(pack)],
            "rules-list": ["rules", "list", "--config", str(config), "--market", "NZ"],
        }[command]
        code, err = run(args)
        assert_clean_exit(code, err, [root / RULE_PATH, root / MARKET_PATH])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(MARKET_DATA),
    data=st.data(),
    style=st.sampled_from(["block", "block", "json"]),
    name=st.sampled_from([None, None, "nz", "us", "xx"]),
)
def test_mutated_market_file_in_a_pack(base, data, style, name):
    """A shipped market file (or the fixture's NZ) in a user pack, layered over the shipped
    market of the same code, with a few of its values changed, deleted or added."""
    mutant = data.draw(mutations(base, most=4), label="market")
    code = mutant.get("code") if isinstance(mutant, dict) else None
    stem = name or (code.lower() if isinstance(code, str) and code.isalpha() else "nz")
    path = f"pack/markets/{stem}.yaml"
    files = {"compliance.yaml": "packs: [pack]\n", RULE_PATH: FUZZ_RULE, path: dump(mutant, style)}
    with repo(files) as root:
        code, err = run(lint_args(root))
        assert_clean_exit(code, err, [root / path, root / RULE_PATH])


# --- market parameters through to the gate --------------------------------------------------

EUROPE = Path(__file__).resolve().parents[1] / "examples" / "europe"
GATE_DOCS = {  # the gate tests' repo, and the French marketing SMS of the examples
    "senders/acme.yaml": GATE_SENDER,
    "scopes/offers.yaml": GATE_SCOPE,
    "templates/sale.yaml": SALE,
    **{
        rel: (EUROPE / rel).read_text("utf-8")
        for rel in (
            "senders/velora-fr.yaml",
            "scopes/fr-sms-offres.yaml",
            "templates/clean/fr-soldes-hiver.yaml",
        )
    },
}

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 24), st.integers(0, 59))
window = st.fixed_dictionaries(
    {"start": hhmm, "end": hhmm},
    optional={"days": st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)},
)
citations = st.just([{"source": "fuzz"}])
purposes = st.lists(st.sampled_from(["marketing", "transactional", "otp"]), min_size=1, unique=True)
quiet_hours = st.fixed_dictionaries(
    {"allowed": st.lists(window, min_size=1, max_size=3), "citations": citations},
    optional={
        "purposes": purposes,
        "channels": st.lists(st.sampled_from(["sms", "mms", "rcs"]), min_size=1, unique=True),
        "regions": st.dictionaries(
            st.sampled_from(["US-FL", "US-CA", "US-TX", "FR-75"]), st.lists(window, max_size=2)
        ),
        "no_public_holidays": st.booleans(),
        "enforcement": st.sampled_from(["required", "advisory"]),
    },
)
frequency_cap = st.fixed_dictionaries(
    {
        "max_messages": st.integers(1, 4),
        "per": st.sampled_from(["PT1H", "PT24H", "P1D", "P7D", "PT0H", "P8D"]),
        "citations": citations,
    },
    optional={"purposes": purposes, "regions": st.lists(st.sampled_from(["US-FL", "US-CA"]))},
)
keyword_list = st.lists(st.sampled_from(["STOP", "stop", "ARRÊT", "ｓｔｏｐ", "", " "]) | texts)
keywords = st.fixed_dictionaries(
    {"citations": citations},
    optional={
        "opt_out": keyword_list,
        "opt_in": keyword_list,
        "help": keyword_list,
        "reasonable_opt_out": st.booleans(),
        "opt_out_stops": purposes,
    },
)
parameters = st.fixed_dictionaries(
    {},
    optional={
        # an unknown zone is test_market_timezone_is_checked_when_the_pack_loads
        "timezone": st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata"]),
        "quiet_hours": st.lists(quiet_hours, max_size=3),
        "frequency_caps": st.lists(frequency_cap, max_size=2),
        "keywords": keywords,
    },
)
SEND_ZONES = [None, "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market=st.sampled_from(["US", "FR"]),
    params=parameters,
    at=st.datetimes(
        dt.datetime(2024, 1, 1), dt.datetime(2028, 1, 1), timezones=st.just(dt.timezone.utc)
    ),
    zone=st.sampled_from(SEND_ZONES),
)
def test_market_parameters_from_a_pack_reach_the_gate(market, params, at, zone):
    """Quiet hours, caps and keywords of any valid shape, layered over a shipped market by a
    user pack: the repo lints, and the gate's answers keep their promises (a defer names a
    later instant at which the send is no longer held for quiet hours)."""
    from compliance import Gate, Send
    from compliance.gate.catalog import from_repo
    from compliance.gate.ledger import Ledger

    to, template, scope = {
        "US": ("+13055550123", "sale", "sms-offers"),
        "FR": ("+33612345678", "fr-soldes-hiver", "fr-sms-offres"),
    }[market]
    extends = "extends: [EU]\n" if market == "FR" else ""
    market_file = f"code: {market}\nname: fuzz\n{extends}" + dump({"parameters": params}, "block")
    path = f"pack/markets/{market.lower()}.yaml"
    with repo({"compliance.yaml": "packs: [pack]\n", path: market_file}, GATE_DOCS) as root:
        try:
            catalog = from_repo(root)
        except ComplianceError as exc:  # a shape the schema refuses: named at its file
            assert str(root / path) in str(exc)
            return
        clock = lambda: at - dt.timedelta(minutes=30)  # noqa: E731
        gate = Gate(
            catalog,
            Ledger(root / "ledger.db", create=True, clock=clock),
            horizon=dt.timedelta(days=200 * 366),
        )
        try:
            gate.ledger.grant(
                subject=to,
                channel="sms",
                scope=scope,
                source="fuzz",
                at=at - dt.timedelta(hours=1),
            )
            gate.ledger.inbound(subject=to, text="HELP", channel="sms", at=at)
            decision = gate.check(Send(to=to, template=template, at=at, timezone=zone))
            assert decision.outcome in ("allow", "deny", "defer")
            if decision.outcome != "defer":
                assert decision.not_before is None
                return
            assert decision.codes == ["quiet_hours"]
            assert decision.not_before > at
            again = gate.check(
                Send(to=to, template=template, at=decision.not_before, timezone=zone)
            )
            assert "quiet_hours" not in again.codes, (decision, again)
        finally:
            gate.close()


# --- bugs these tests found (fixed), each with its failing input ------------------------------

TEXT_MATCH_RULE = """\
id: fuzz-rule
summary: fuzz
description: fuzz
severity: warning
applies_to: {kinds: [template]}
check:
  kind: text_match
  params: %s
citations: [{source: fuzz}]
examples: {pass: [a], fail: [b]}
"""
SENDER_ID_RULE = TEXT_MATCH_RULE.replace("kinds: [template]", "kinds: [sender]").replace(
    "text_match", "sender_id"
)


def pack_run(rule: str) -> tuple[int, str, list[Path]]:
    files = {"compliance.yaml": "packs: [pack]\n", RULE_PATH: rule, MARKET_PATH: FUZZ_MARKET}
    with repo(files) as root:
        code, err = run(lint_args(root))
        return code, err, [root / RULE_PATH, root / MARKET_PATH]


@settings(max_examples=25, deadline=None)
@example(field="forbid", pattern="(")
@example(field="require_all", pattern="[")
@given(
    field=st.sampled_from(["forbid", "require_any", "require_all"]),
    pattern=st.text(alphabet="()[]{}*+?\\|^$.a1", max_size=6),
)
def test_pack_text_match_regex_params_are_pack_errors(field, pattern):
    value = [{"name": "x", "pattern": pattern}] if field == "require_all" else [pattern]
    params = json.dumps({field: value, "message": "m"})
    code, err, blamed = pack_run(TEXT_MATCH_RULE % params)
    assert_clean_exit(code, err, blamed, strict=True)


@settings(max_examples=25, deadline=None)
@example(pattern="(")
@given(pattern=st.text(alphabet="()[]{}*+?\\|^$.a1", max_size=6))
def test_pack_sender_id_regex_param_is_a_pack_error(pattern):
    params = json.dumps({"types": ["long_code"], "pattern": pattern, "message": "m"})
    code, err, blamed = pack_run(SENDER_ID_RULE % params)
    assert_clean_exit(code, err, blamed, strict=True)


@settings(max_examples=25, deadline=None)
@example(message="{nope}")
@example(message="{0}")
@example(message="{")
@given(message=st.text(alphabet="{}!:0ab ", max_size=8))
def test_pack_rule_message_placeholders_are_pack_errors(message):
    params = json.dumps({"forbid": ["Acme"], "message": message})
    code, err, blamed = pack_run(TEXT_MATCH_RULE % params)
    assert_clean_exit(code, err, blamed, strict=True)


@settings(max_examples=25, deadline=None)
@example(message="{")
@example(message="{nope}")
@given(message=st.text(alphabet="{}!:0ab ", max_size=8))
def test_config_rule_message_placeholders_are_config_errors(message):
    config = {"rules": {"us-marketing-brand": {"params": {"message": message}}}}
    with repo({"compliance.yaml": dump(config, "block")}) as root:
        code, err = run(lint_args(root))
        assert_clean_exit(code, err, [root / "compliance.yaml"], strict=True)


CHANNELS_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "channels"
EMAIL_DOCS = {
    rel: (CHANNELS_EXAMPLE / rel).read_text("utf-8")
    for rel in (
        "senders/kestrel-mail.yaml",
        "scopes/email-newsletter.yaml",
        "templates/clean/email-new-harvest.yaml",
    )
}


@settings(max_examples=10, deadline=None)
@example(zone="Nowhere/Zone")
@given(zone=st.sampled_from(["America/New_York", "Nowhere/Zone", "", "US/Eastern "]))
def test_market_timezone_is_checked_when_the_pack_loads(zone):
    from compliance import Gate, Send
    from compliance.gate.catalog import from_repo
    from compliance.gate.ledger import Ledger

    market = {
        "code": "US",
        "name": "fuzz",
        "parameters": {
            "timezone": zone,
            "quiet_hours": [
                {"allowed": [{"start": "08:00", "end": "21:00"}], "citations": [{"source": "f"}]}
            ],
        },
    }
    path = "pack/markets/us.yaml"
    at = dt.datetime(2026, 11, 26, 17, tzinfo=dt.timezone.utc)
    files = {"compliance.yaml": "packs: [pack]\n", path: dump(market, "block")}
    with repo(files, EMAIL_DOCS) as root:
        try:
            catalog = from_repo(root)
        except ComplianceError as exc:
            assert str(root / path) in str(exc)
            return
        gate = Gate(catalog, Ledger(root / "ledger.db", create=True, clock=lambda: at))
        try:
            to = "ana@example.com"
            gate.ledger.grant(
                subject=to, channel="email", scope="email-newsletter", source="f", at=at
            )
            decision = gate.check(Send(to=to, template="email-new-harvest", at=at))
            assert decision.outcome in ("allow", "deny", "defer")
        finally:
            gate.close()


@pytest.mark.parametrize("base", sorted(RULE_DATA))
def test_every_rule_pointed_at_every_kind_of_document_ends_cleanly(base):
    """A pack may point a shipped check at any kind of document (`applies_to.kinds`): a check
    written for templates, pointed at senders or consent scopes, must not crash (exit 3). The
    fuzzer found one that read a template's purpose from a consent scope; this is its class."""
    for kind in ("template", "sender", "consent_scope"):
        rule = {**RULE_DATA[base], "id": "fuzz-rule", "applies_to": {"kinds": [kind]}}
        market = {"code": "NZ", "name": "NZ (fuzz)", "citations": [{"source": "fuzz"}]}
        if rule.get("scope", "market") == "market":
            market["rules"] = [{"rule": "fuzz-rule"}]
        files = {
            "compliance.yaml": "packs: [pack]\n",
            RULE_PATH: dump(rule, "block"),
            MARKET_PATH: dump(market, "block"),
        }
        with repo(files) as root:
            code, err = run(lint_args(root))
        assert code in (0, 1, 2) and "Traceback" not in err, (base, kind, err)
