"""Signed, validated bundles: CI signs with COMPLIANCE_BUNDLE_SIGNING_KEY, production hosts
holding only COMPLIANCE_BUNDLE_KEY load nothing else, and a malformed bundle is a BundleError
naming the place (exit 2 in the CLI), never a KeyError or a traceback.

examples/us is linted once per module; each test writes its own bundles from that catalog.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import BundleError, BundleKeyError, ComplianceError, Gate
from compliance.gate.catalog import Catalog, check_bundle, from_bundle, from_repo, write_bundle

ROOT = Path(__file__).resolve().parents[2]
US = ROOT / "examples" / "us"
SIGN, TRUST = "COMPLIANCE_BUNDLE_SIGNING_KEY", "COMPLIANCE_BUNDLE_KEY"
TO, AT = "+14155550123", "2026-11-26T18:00:00Z"
SETTINGS = {
    "deadline": None,
    "max_examples": 60,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    """No key from the shell running the tests: each test sets what it needs."""
    monkeypatch.delenv(SIGN, raising=False)
    monkeypatch.delenv(TRUST, raising=False)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return from_repo(US)


@pytest.fixture(scope="module")
def pairs() -> list[dict[str, str]]:
    """Three key pairs, by the variable each belongs in (as `bundle keygen` prints them)."""
    from compliance.gate import signing

    return [{SIGN: p.private, TRUST: p.public} for p in (signing.generate() for _ in range(3))]


def _env_lines(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def _key_id(pair: dict[str, str]) -> str:
    raw = base64.b64decode(pair[TRUST].removeprefix("ed25519-pub:"))
    return hashlib.sha256(raw).hexdigest()[:16]


def _build(catalog: Catalog, path: Path, monkeypatch, signing: str | None) -> dict[str, Any]:
    """write_bundle as CI runs it: with the private key in the environment, or without."""
    with monkeypatch.context() as env:
        env.delenv(TRUST, raising=False)
        if signing is None:
            env.delenv(SIGN, raising=False)
        else:
            env.setenv(SIGN, signing)
        return write_bundle(catalog, path)


def _redigest(bundle: dict[str, Any]) -> dict[str, Any]:
    """What the attacker in the issue does after an edit: recompute the (public) digest."""
    body = {k: v for k, v in bundle.items() if k not in ("digest", "created_at", "signature")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    bundle["digest"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return bundle


def _write(path: Path, bundle: Any) -> Path:
    path.write_text(json.dumps(bundle, ensure_ascii=False), "utf-8")
    return path


def _edited(path: Path, out: Path) -> Path:
    """The bundle at `path` with a template's body changed and the digest recomputed."""
    bundle = json.loads(path.read_text("utf-8"))
    template = next(d for d in bundle["documents"] if d["kind"] == "template")
    template["body"] = "Win a prize! Text back your card number."
    return _write(out, _redigest(bundle))


# keygen, signing and loading -----------------------------------------------------------------


def test_keygen_prints_a_labelled_pair_that_round_trips(cli, pairs, catalog, tmp_path, monkeypatch):
    run = cli(["bundle", "keygen"])
    assert run.code == 0
    assert "ONLY in your CI secrets" in run.out and "production host" in run.out
    pair = _env_lines(run.out)
    assert set(pair) == {SIGN, TRUST}
    assert pair[SIGN].startswith("ed25519-priv:") and pair[TRUST].startswith("ed25519-pub:")
    assert len(base64.b64decode(pair[SIGN].removeprefix("ed25519-priv:"))) == 32
    assert _key_id(pair) in run.out

    bundle = tmp_path / "bundle.json"
    run = cli(["bundle", "-o", str(bundle), "--repo", str(US)], env={SIGN: pair[SIGN]})
    assert run.code == 0 and f"signed by key {_key_id(pair)}" in run.out
    monkeypatch.delenv(SIGN)
    monkeypatch.setenv(TRUST, pair[TRUST])
    gate = Gate.open(bundle=bundle, ledger=tmp_path / "l.db", create=True)
    assert set(gate.catalog.templates) == set(catalog.templates)
    assert gate.catalog.digest == catalog.digest  # the digest the audit records is unchanged
    run = cli(["bundle", "verify", str(bundle)])
    assert run.code == 0 and f"intact, signed by key {_key_id(pair)}" in run.out


def test_edited_bundle_with_recomputed_digest_is_refused_with_the_key(
    cli, pairs, catalog, tmp_path, monkeypatch
):
    signed = tmp_path / "signed.json"
    _build(catalog, signed, monkeypatch, pairs[0][SIGN])
    edited = _edited(signed, tmp_path / "edited.json")
    # without a public key the digest is all there is, and the attack works: why keys exist
    assert "Win a prize" in next(iter(from_bundle(edited).templates.values())).body

    monkeypatch.setenv(TRUST, pairs[0][TRUST])
    with pytest.raises(BundleError, match="does not match its signature by key .*build it again"):
        from_bundle(edited)
    with pytest.raises(BundleError):
        Gate.open(bundle=edited, ledger=tmp_path / "l.db")
    run = cli(["bundle", "verify", str(edited)])
    assert run.code == 1 and "changed after it was signed" in run.out
    ledger = ["--ledger", str(tmp_path / "l.db"), "--bundle", str(edited)]
    run = cli(["check", "--to", TO, "--template", "10dlc-weekend-sale", "--at", AT, *ledger])
    assert run.code == 2 and "does not match its signature" in run.err
    assert "Usage:" not in run.err and "Traceback" not in run.err
    from_bundle(signed)  # the untouched bundle still loads


@pytest.mark.parametrize(
    "field, value",
    [
        ("created_at", "2020-01-01T00:00:00+00:00"),  # no passing an old bundle off as new
        ("tool", {"name": "compliance", "version": "9.9.9"}),
        ("lint_errors", {"template:pickup-reminder": ["sms.encoding"]}),
    ],
)
def test_every_field_but_the_signature_is_signed(
    pairs, catalog, tmp_path, monkeypatch, field, value
):
    signed = tmp_path / "signed.json"
    bundle = _build(catalog, signed, monkeypatch, pairs[0][SIGN])
    assert bundle[field] != value
    monkeypatch.setenv(TRUST, pairs[0][TRUST])
    from_bundle(signed)
    changed = tmp_path / "changed.json"
    with pytest.raises(BundleError, match="does not match its signature"):
        from_bundle(_write(changed, _redigest(dict(bundle, **{field: value}))))


def test_unsigned_bundle_loads_only_without_the_key(cli, pairs, catalog, tmp_path, monkeypatch):
    unsigned = tmp_path / "unsigned.json"
    assert "signature" not in _build(catalog, unsigned, monkeypatch, None)
    assert from_bundle(unsigned).digest == catalog.digest
    run = cli(["bundle", "verify", str(unsigned)])
    assert run.code == 0 and "unsigned" in run.out

    monkeypatch.setenv(TRUST, pairs[0][TRUST])
    with pytest.raises(BundleError, match=f"is not signed.*{SIGN}"):
        from_bundle(unsigned)
    run = cli(["bundle", "verify", str(unsigned)])
    assert run.code == 1 and "is not signed" in run.out


def test_a_bundle_signed_by_another_key_is_refused(cli, pairs, catalog, tmp_path, monkeypatch):
    other = tmp_path / "other.json"
    _build(catalog, other, monkeypatch, pairs[2][SIGN])
    run = cli(["bundle", "verify", str(other)])  # no public key here: the signer is named
    assert run.code == 0 and f"signed by key {_key_id(pairs[2])}, not checked" in run.out

    monkeypatch.setenv(TRUST, f"{pairs[0][TRUST]},{pairs[1][TRUST]}")
    message = f"signed by key {_key_id(pairs[2])}, which is not in {TRUST}"
    with pytest.raises(BundleError, match=message):
        from_bundle(other)
    # claiming a trusted key's id does not help: the signature is checked with that key
    forged = json.loads(other.read_text("utf-8"))
    forged["signature"]["key_id"] = _key_id(pairs[0])
    with pytest.raises(BundleError, match="does not match its signature"):
        from_bundle(_write(tmp_path / "forged.json", forged))


@pytest.mark.parametrize("separator", [",", ", ", "\n", " \t"])
def test_bundles_signed_by_either_rotated_key_load(
    pairs, catalog, tmp_path, monkeypatch, separator
):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    _build(catalog, old, monkeypatch, pairs[0][SIGN])
    _build(catalog, new, monkeypatch, pairs[1][SIGN])
    monkeypatch.setenv(TRUST, f"\n{pairs[0][TRUST]}{separator}{pairs[1][TRUST]}\n")
    for path, pair in ((old, pairs[0]), (new, pairs[1])):
        assert from_bundle(path).digest == catalog.digest
        seal = check_bundle(path)
        assert seal.checked and seal.problem is None and seal.key_id == _key_id(pair)
    monkeypatch.setenv(TRUST, pairs[1][TRUST])  # the old key retired
    with pytest.raises(BundleError, match=f"{_key_id(pairs[0])}, which is not in"):
        from_bundle(old)
    from_bundle(new)


def test_a_host_with_only_the_public_key_cannot_sign(cli, pairs, tmp_path):
    bundle = tmp_path / "bundle.json"
    run = cli(["bundle", "-o", str(bundle), "--repo", str(US)], env={TRUST: pairs[0][TRUST]})
    assert run.code == 2 and not bundle.exists()
    assert f"{TRUST} is set but {SIGN} is not" in run.err
    assert "Usage:" not in run.err


def test_ci_warns_when_its_public_key_does_not_match_the_signing_key(cli, pairs, tmp_path):
    bundle = tmp_path / "bundle.json"
    env = {SIGN: pairs[0][SIGN], TRUST: pairs[1][TRUST]}
    run = cli(["bundle", "-o", str(bundle), "--repo", str(US)], env=env)
    assert run.code == 0 and "warning:" in run.err and _key_id(pairs[0]) in run.err


# malformed keys --------------------------------------------------------------------------------


def _bad_keys(pairs: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    """(variable, value, what the message says)."""
    public, private = pairs[0][TRUST], pairs[0][SIGN]
    return [
        (TRUST, "junk", f"{TRUST}: its value is not a key"),
        (TRUST, "", f"{TRUST} is set but holds no key"),
        (TRUST, " , ", f"{TRUST} is set but holds no key"),
        (TRUST, "ed25519-pub:!!!!", "base64 of 32 bytes"),
        (TRUST, "ed25519-pub:" + base64.b64encode(b"x" * 31).decode(), "base64 of 32 bytes"),
        (TRUST, f"{public},ed25519-pub:AAAA", f"{TRUST}: key 2 of 2 is not a key"),
        (TRUST, private, f"{TRUST} holds a private key"),
        (SIGN, public, f"{SIGN} holds a public key"),
        (SIGN, "", f"{SIGN}: its value is not a key"),
        (SIGN, private[:-8], f"{SIGN}: its value is not a key"),
        (SIGN, private.replace("ed25519-priv:", "ed448-priv:"), f"{SIGN}: its value is not a key"),
    ]


def test_malformed_keys_are_named_errors_never_a_traceback(
    cli, pairs, catalog, tmp_path, monkeypatch
):
    good, new = tmp_path / "good.json", tmp_path / "new.json"
    _build(catalog, good, monkeypatch, pairs[0][SIGN])
    private = pairs[0][SIGN].removeprefix("ed25519-priv:")
    ledger = ["--ledger", str(tmp_path / "l.db")]
    for variable, value, message in _bad_keys(pairs):
        with monkeypatch.context() as env:
            env.setenv(variable, value)
            if variable == TRUST:
                with pytest.raises(BundleKeyError, match=re.escape(message)):
                    from_bundle(good)
                with pytest.raises(BundleKeyError):
                    Gate.open(bundle=good, ledger=tmp_path / "l.db")
                runs = [
                    cli(["bundle", "verify", str(good)]),
                    cli(["check", "--to", TO, "--template", "x", "--bundle", str(good), *ledger]),
                ]
            else:
                with pytest.raises(BundleKeyError, match=re.escape(message)):
                    write_bundle(catalog, new)
                runs = [cli(["bundle", "-o", str(new), "--repo", str(US)])]
        for run in runs:
            assert run.code == 2, (variable, value, run)
            assert message in run.err and "Traceback" not in run.err and "Usage:" not in run.err
            assert private[:12] not in run.err + run.out  # a private key is never echoed
    assert not new.exists()


# malformed bundles -----------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any):
    def mutate(bundle: dict[str, Any]) -> None:
        target = bundle
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _drop(path: tuple[Any, ...]):
    def mutate(bundle: dict[str, Any]) -> None:
        target = bundle
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


# each mutation of a valid bundle, with the digest recomputed, and where the message points
MALFORMED = {
    "wrong version": (_set(("version",), 2), "not a version 1 compliance bundle (version: 2)"),
    "version true": (_set(("version",), True), "not a version 1 compliance bundle"),
    "unknown kind": (
        _set(("documents", 3, "kind"), "tempalte"),
        "documents[3].kind: 'tempalte' is not one of template, sender, consent_scope",
    ),
    "no kind": (_drop(("documents", 3, "kind")), "documents[3]: missing field 'kind'"),
    "template without body": (
        _drop(("documents", 0, "body")),
        "documents[0]: missing required field 'body'",
    ),
    "bad channel": (_set(("documents", 0, "channel"), "fax"), "documents[0].channel: "),
    "document not an object": (
        _set(("documents", 1), 7),
        "documents[1]: input should be an object",
    ),
    "unknown document field": (
        _set(("documents", 0, "bdy"), "x"),
        "documents[0].bdy: unknown field",
    ),
    "markets bad zone": (
        _set(("markets", "US", "timezone"), "Mars/Base"),
        "markets.US.timezone: 'Mars/Base' is not an IANA time zone",
    ),
    "markets bad hour": (
        _set(("markets", "US", "quiet_hours", 0, "allowed", 0, "start"), "25:00"),
        "markets.US.quiet_hours[0].allowed[0].start: ",
    ),
    "market code": (_set(("markets", "usa"), {}), "markets.usa: "),
    "markets a list": (_set(("markets",), []), "markets: input should be an object (got a list)"),
    "signature not an object": (
        _set(("signature",), "abc"),
        "signature: input should be an object",
    ),
    "signature bad algorithm": (
        _set(("signature",), {"algorithm": "rsa", "key_id": "0" * 16, "value": "A" * 86 + "=="}),
        "signature.algorithm: ",
    ),
    "signature short value": (
        _set(("signature",), {"algorithm": "ed25519", "key_id": "0" * 16, "value": "AAAA"}),
        "signature.value: ",
    ),
    "lint_errors shape": (
        _set(("lint_errors",), {"template:x": "rule"}),
        "lint_errors.template:x: ",
    ),
    "lint_errors key": (_set(("lint_errors",), {"x": ["rule"]}), "lint_errors.x: "),
    "no tool": (_drop(("tool",)), "(top level): missing required field 'tool'"),
    "naive created_at": (_set(("created_at",), "2026-01-01T00:00:00"), "created_at: "),
    "unknown top-level field": (_set(("hidden",), 1), "hidden: unknown field"),
    "duplicate id": (
        lambda b: b["documents"].append(copy.deepcopy(b["documents"][0])),
        "id: a second template",
    ),
    "digest not hex": (_set(("digest",), "sha256:abc"), "digest: "),
}


@pytest.fixture(scope="module")
def valid(catalog, tmp_path_factory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("valid") / "bundle.json"
    write_bundle(catalog, path)
    return json.loads(path.read_text("utf-8"))


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bundle_is_a_bundle_error_naming_the_place(cli, valid, tmp_path, case):
    mutate, message = MALFORMED[case]
    bundle = copy.deepcopy(valid)
    mutate(bundle)
    if case != "digest not hex":
        _redigest(bundle)
    path = _write(tmp_path / "b.json", bundle)
    with pytest.raises(BundleError) as raised:
        from_bundle(path)
    assert isinstance(raised.value, ComplianceError) and isinstance(raised.value, ValueError)
    assert f"bundle {path}" in str(raised.value) and message in str(raised.value)
    check = ["check", "--to", TO, "--template", "x", "--bundle", str(path)]
    for args in (["bundle", "verify", str(path)], [*check, "--ledger", str(tmp_path / "l.db")]):
        run = cli(args)
        assert run.code == 2 and message in run.err, (args, run)
        assert "Usage:" not in run.err and "Traceback" not in run.err


RAW = {
    "empty file": (b"", "is not JSON"),
    "not JSON": (b"version: 1\n", "is not JSON"),
    "a list": (b"[1, 2]", "holds no JSON object"),
    "null": (b"null", "holds no JSON object"),
    "NaN": (b'{"version": NaN}', "NaN is not a JSON value"),
    "infinity by overflow": (b'{"version": 1, "x": 1e999}', "is not JSON"),
    "nested too deeply": (
        b'{"version": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested too deeply",
    ),
    "nested deep for pydantic": (
        b'{"version": 1, "x": ' + b"[" * 500 + b"]" * 500 + b"}",
        "bundle",
    ),
    "a 10,000-digit number": (b'{"version": ' + b"9" * 10_000 + b"}", "is not JSON"),
    "lone surrogate": (b'{"version": 1, "x": "\\ud800"}', "is not JSON"),
    "not UTF-8": (b'{"version": 1, "x": "\xff"}', "cannot be read"),
    "byte order mark": (b'\xef\xbb\xbf{"version": 1}', "is not JSON"),
    "NUL bytes": (b"\x00" * 1000, "is not JSON"),
    "a huge string": (
        b'{"version": 1, "tool": "' + b"x" * 5_000_000 + b'"}',
        "tool: input should be an object",
    ),
}


@pytest.mark.parametrize("case", list(RAW))
def test_odd_and_huge_input_is_a_bundle_error(cli, tmp_path, case):
    raw, message = RAW[case]
    path = tmp_path / "b.json"
    path.write_bytes(raw)
    with pytest.raises(BundleError, match=message):
        from_bundle(path)
    run = cli(["bundle", "verify", str(path)])
    assert run.code == 2 and message in run.err and len(run.err) < 2_000
    assert "Traceback" not in run.err


def test_a_large_valid_bundle_loads(valid, tmp_path):
    bundle = copy.deepcopy(valid)
    template = next(d for d in bundle["documents"] if d["kind"] == "template")
    for number in range(2_000):
        bundle["documents"].append(dict(template, id=f"t{number}", body="x" * 500))
    assert len(from_bundle(_write(tmp_path / "b.json", _redigest(bundle))).templates) > 2_000


# fuzzing -----------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            found += _paths(item, (*prefix, number))
    return found


def _mutated(data, bundle: dict[str, Any]) -> dict[str, Any]:
    """A copy with one value replaced, one key dropped or one key renamed, somewhere."""
    bundle = copy.deepcopy(bundle)
    path = data.draw(st.sampled_from(_paths(bundle)))
    parent = bundle
    for part in path[:-1]:
        parent = parent[part]
    how = data.draw(st.sampled_from(["replace", "drop", "rename"]))
    if how == "replace" or not isinstance(parent, dict):
        parent[path[-1]] = data.draw(JSON_VALUES)
    elif how == "drop":
        del parent[path[-1]]
    else:
        parent[data.draw(st.text(max_size=8))] = parent.pop(path[-1])
    return bundle


@settings(**SETTINGS)
@given(data=st.data(), redigest=st.booleans())
def test_fuzzed_mutations_load_or_raise_bundle_error(valid, tmp_path, data, redigest):
    bundle = _mutated(data, valid)
    path = _write(tmp_path / "fuzz.json", _redigest(bundle) if redigest else bundle)
    try:
        loaded = from_bundle(path)
    except BundleError:
        return
    assert isinstance(loaded, Catalog)


@pytest.fixture(scope="module")
def signed(catalog, pairs, tmp_path_factory) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SIGN, pairs[0][SIGN])
        return write_bundle(catalog, tmp_path_factory.mktemp("signed") / "bundle.json")


@settings(**SETTINGS)
@given(data=st.data())
def test_with_the_key_set_any_change_is_refused(pairs, signed, tmp_path, monkeypatch, data):
    monkeypatch.setenv(TRUST, pairs[0][TRUST])
    bundle = _mutated(data, signed)
    try:
        from_bundle(_write(tmp_path / "fuzz.json", _redigest(bundle)))
    except BundleError:
        return
    assert bundle == signed  # the one mutation that may load is no change at all


@settings(**SETTINGS)
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_a_bundle_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("raw") / "b.json"
    path.write_bytes(raw)
    with pytest.raises(BundleError):
        from_bundle(path)


# the command line --------------------------------------------------------------------------------


def test_bundle_without_output_or_with_both_is_a_helpful_usage_error(cli, tmp_path):
    run = cli(["bundle"])
    assert run.code == 2 and "compliance bundle -o bundle.json" in run.err
    assert "bundle keygen" in run.err and "bundle verify FILE" in run.err
    run = cli(["bundle", "-o", str(tmp_path / "b.json"), "keygen"])
    assert run.code == 2 and "do not go with `keygen`" in run.err
    assert not (tmp_path / "b.json").exists()


def test_bundle_help_names_the_key_variables_and_format(cli):
    run = cli(["bundle", "--help"])
    assert run.code == 0
    for text in (SIGN, TRUST, "ed25519-priv:", "ed25519-pub:", "keygen", "verify"):
        assert text in run.out


def test_verify_names_a_missing_file_as_usage(cli, tmp_path):
    run = cli(["bundle", "verify", str(tmp_path / "missing.json")])
    assert run.code == 2 and "does not exist" in run.err


def test_version_and_lint_do_not_import_cryptography():
    code = (
        "import sys; from compliance.cli import main; main(['--version']); "
        f"main(['lint', {str(US)!r}]); print('cryptography:', 'cryptography' in sys.modules)"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "cryptography: False" in run.stdout, run.stdout + run.stderr
