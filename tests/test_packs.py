from __future__ import annotations

from pathlib import Path

import pytest

from compliance.errors import PackError
from compliance.packs import load_packs, shipped_pack_dir
from compliance.ruletest import run_examples

FIXTURE_PACK = Path(__file__).parent / "fixtures" / "pack"


def test_shipped_packs_load_from_the_checkout():
    packs = load_packs()
    assert shipped_pack_dir() == Path(__file__).resolve().parents[1]
    assert {"schema", "yaml-syntax", "unknown-reference", "sms-segments"} <= set(packs.rules)
    for rule in packs.rules.values():
        assert rule.model.citations, rule.id
        assert rule.path.stem == rule.id


@pytest.mark.parametrize("result", run_examples(load_packs()), ids=lambda r: r.name)
def test_every_shipped_rule_example_behaves(result):
    assert result.ok, (result.problems, result.findings)


def test_user_pack_markets_extend_and_override():
    packs = load_packs([FIXTURE_PACK])
    nz, fj = packs.markets["NZ"], packs.markets["FJ"]
    assert nz.rules["short-sms"].severity == "error"
    assert fj.rules["short-sms"].params == {"max_segments": 2}
    assert fj.parameters.quiet_hours[0].allowed[0].end == "20:00"  # inherited from NZ
    assert fj.parameters.keywords.opt_out == ["STOP"]


def test_fixture_pack_examples_pass():
    packs = load_packs([FIXTURE_PACK])
    results = run_examples(packs, [packs.rules["short-sms"]])
    assert [r.ok for r in results] == [True, True]


def write_pack(tmp_path: Path, rules: dict[str, str] = {}, markets: dict[str, str] = {}) -> Path:
    for name, text in rules.items():
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / name).write_text(text, "utf-8")
    for name, text in markets.items():
        (tmp_path / "markets").mkdir(exist_ok=True)
        (tmp_path / "markets" / name).write_text(text, "utf-8")
    return tmp_path


RULE = (FIXTURE_PACK / "rules" / "short-sms.yaml").read_text("utf-8")


@pytest.mark.parametrize(
    "name, text, line, message",
    [
        ("other.yaml", RULE, 1, "must equal the file name"),
        (
            "short-sms.yaml",
            RULE.replace("severity: warning", "severity: high"),
            4,
            "'high' is not allowed",
        ),
        (
            "short-sms.yaml",
            RULE.replace("kind: sms_encoding", "kind: nope"),
            9,
            "unknown check kind 'nope'",
        ),
        (
            "short-sms.yaml",
            RULE.replace("params: {max_segments: 1}", "params: {max_segment: 1}"),
            10,
            "parameter max_segment",
        ),
        (
            "short-sms.yaml",
            RULE.replace("citations:\n  - source: test fixture\n", "citations: []\n"),
            11,
            "must not be empty",
        ),
        (
            "short-sms.yaml",
            RULE.replace("summary:", "sumary:"),
            1,
            "missing required field 'summary'; also line 2: unknown field 'sumary': did you mean 'summary'?",
        ),
    ],
)
def test_bad_rule_files_are_pack_errors_with_a_place(tmp_path, name, text, line, message):
    pack = write_pack(tmp_path, rules={name: text})
    with pytest.raises(PackError) as info:
        load_packs([pack])
    assert info.value.path.endswith(name)
    assert info.value.line == line, info.value
    assert message in info.value.message


def test_market_errors(tmp_path):
    pack = write_pack(
        tmp_path,
        rules={"short-sms.yaml": RULE},
        markets={"nz.yaml": "code: NZ\nname: x\nrules:\n  - rule: no-such-rule\n"},
    )
    with pytest.raises(PackError, match="enables unknown rule 'no-such-rule'"):
        load_packs([pack])


def test_market_extending_a_missing_market(tmp_path):
    pack = write_pack(tmp_path, markets={"nz.yaml": "code: NZ\nname: x\nextends: [AQ]\n"})
    with pytest.raises(PackError, match="extends 'AQ', which has no market file"):
        load_packs([pack])


def test_missing_pack_folder(tmp_path):
    with pytest.raises(PackError, match="does not exist"):
        load_packs([tmp_path / "nope"])
