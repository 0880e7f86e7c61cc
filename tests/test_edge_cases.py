"""Regression tests for problems found by using the tool as people do (one test per case)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compliance.engine import lint
from compliance.errors import PackError
from compliance.loader import SourceFile, parse_bytes, parse_text
from compliance.packs import load_packs
from tests.conftest import SCOPE, SENDER, TEMPLATE

FIXTURE_PACK = Path(__file__).parent / "fixtures" / "pack"
PUSH = "kind: template\nid: {id}\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: {body}\n"


def rules(result, *, skip_info=True):
    return [
        (f.rule, f.path, f.line)
        for f in result.findings
        if not (skip_info and f.severity == "info")
    ]


def test_sender_type_of_the_wrong_shape_is_a_schema_error_not_a_crash(repo):
    repo.write("s.yaml", SENDER.replace("type: long_code", "type: [long_code]"))
    result = lint(["."], cwd=repo.path)
    assert [(f.rule, f.message) for f in result.findings] == [
        (
            "schema",
            "type: expected one of: long_code, short_code, toll_free, alphanumeric, "
            "whatsapp, rcs_agent, email_domain; got a list",
        )
    ]


def test_huge_max_length_is_bounded(repo):
    repo.write(
        "t.yaml",
        PUSH.format(id="t", body="'{{x}}'")
        + "variables:\n  x: {max_length: 10000000000000000000}\n",
    )
    (finding,) = lint(["."], cwd=repo.path).findings
    assert finding.message.startswith("variables.x.max_length: must be at most 100000")


def test_fifo_and_devices_are_not_read(repo):
    os.mkfifo(repo.path / "pipe.yaml")
    (repo.path / "zero.yaml").symlink_to("/dev/zero")
    repo.write("t.yaml", PUSH.format(id="t", body="ok"))
    result = lint(["."], cwd=repo.path)
    assert sorted(
        (f.rule, f.path, f.message) for f in result.findings if f.rule == "yaml-syntax"
    ) == [
        ("yaml-syntax", "pipe.yaml", "not a regular file: lint only files"),
        ("yaml-syntax", "zero.yaml", "not a regular file: lint only files"),
    ]


def test_include_limits_what_is_linted_not_the_context(repo):
    repo.write("compliance.yaml", "include: [templates]\n")
    repo.write("senders/s.yaml", SENDER)
    repo.write("scopes/c.yaml", SCOPE)
    repo.write("templates/t.yaml", TEMPLATE)
    result = lint(["."], cwd=repo.path)
    assert rules(result) == [] and result.files == 1


def test_exclude_removes_files_from_the_context_too(repo):
    repo.write("compliance.yaml", "exclude: [old]\n")
    repo.write("old/t.yaml", TEMPLATE.replace("sender: acme-us", "sender: x"))
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    repo.write("t.yaml", TEMPLATE)
    assert rules(lint(["."], cwd=repo.path)) == []  # no duplicate-id with the excluded copy


def test_a_symlinked_file_is_linted_in_the_repo_that_holds_the_link(repo, tmp_path_factory):
    outside = tmp_path_factory.mktemp("shared")
    (outside / "t.yaml").write_text(TEMPLATE)
    repo.write("compliance.yaml", "ignore: [market-without-pack]\n")
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    (repo.path / "templates").mkdir()
    (repo.path / "templates" / "t.yaml").symlink_to(outside / "t.yaml")
    result = lint(["templates/t.yaml"], cwd=repo.path)
    assert result.findings == [] and result.files == 1


def test_a_symlink_inside_the_repo_is_not_a_duplicate(repo):
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    repo.write("real/t.yaml", TEMPLATE)
    (repo.path / "link.yaml").symlink_to(repo.path / "real" / "t.yaml")
    assert rules(lint(["."], cwd=repo.path)) == []
    result = lint(["link.yaml"], cwd=repo.path)
    assert {f.path for f in result.findings} <= {"link.yaml"}


def test_explicit_config_elsewhere_keeps_the_git_root(repo):
    repo.write("ci/compliance.yaml", "fail_on: warning\n")
    repo.write("senders/s.yaml", SENDER)
    repo.write("scopes/c.yaml", SCOPE)
    target = repo.write("templates/t.yaml", TEMPLATE)
    result = lint([target], cwd=repo.path, config_path=repo.path / "ci" / "compliance.yaml")
    assert result.config.root == repo.path and rules(result) == []


def test_without_git_or_config_the_root_is_the_working_folder(tmp_path):
    (tmp_path / "senders").mkdir()
    (tmp_path / "senders" / "s.yaml").write_text(SENDER)
    (tmp_path / "c.yaml").write_text(SCOPE)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(TEMPLATE)
    assert rules(lint(["templates"], cwd=tmp_path)) == []


def write_market(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "short-sms.yaml").write_text(
        (FIXTURE_PACK / "rules" / "short-sms.yaml").read_text()
    )
    (tmp_path / "markets").mkdir()
    (tmp_path / "markets" / "nz.yaml").write_text(text)
    return tmp_path


def test_a_market_cannot_enable_a_generic_rule(tmp_path):
    pack = write_market(tmp_path, "code: NZ\nname: x\nrules:\n  - rule: hidden-characters\n")
    with pytest.raises(PackError, match="'hidden-characters' is generic") as info:
        load_packs([pack])
    assert (info.value.line, info.value.column) == (4, 11)


def test_market_rule_params_are_checked_when_the_pack_loads(tmp_path):
    pack = write_market(
        tmp_path, "code: NZ\nname: x\nrules:\n  - rule: short-sms\n    params: {bogus: 1}\n"
    )
    with pytest.raises(PackError, match="parameter bogus") as info:
        load_packs([pack])
    assert info.value.path.endswith("nz.yaml") and info.value.line == 5


def test_repeated_findings_keep_distinct_fingerprints(repo):
    repo.write("t.yaml", PUSH.format(id="t", body="'{{x}} and {{x}}'"))
    first, second = [
        f for f in lint(["."], cwd=repo.path).findings if f.rule == "placeholder-undeclared"
    ]
    assert first.fingerprint != second.fingerprint
    assert (first.occurrence, second.occurrence) == (1, 2)


def test_suppressions_still_work_on_an_invalid_document(repo):
    repo.write(
        "t.yaml",
        PUSH.format(id="t", body='"a\\u200bb"')
        + "bogus: 1\nsuppress:\n  - {rule: hidden-characters, reason: legacy text}\n"
        + "  - {rule: hidden-character, reason: a typo}\n",
    )
    result = lint(["."], cwd=repo.path)
    got = {(f.rule, f.suppressed) for f in result.findings}
    assert ("hidden-characters", True) in got and ("schema", False) in got
    (typo,) = [f for f in result.findings if f.rule == "suppression-unused"]
    assert typo.message == (
        "suppression names rule 'hidden-character', which does not exist; "
        "did you mean 'hidden-characters'?"
    )


@pytest.mark.parametrize(
    "text, line, col, message",
    [
        (
            "rules:\n  hidden-characters: {severity: error}\nignore: [hidden]\n",
            3,
            10,
            "unknown rule 'hidden'",
        ),
        (
            "rules:\n  sms-segments: {severity: error}\n  sms: {severity: error}\n",
            3,
            3,
            "unknown rule 'sms'",
        ),
        ("# UK is spelled GB\nmarkets: [UK]\n", 2, 11, "'UK' is not an ISO 3166-1"),
        ("packs: [./nope]\n", 1, 9, "packs: './nope' does not exist"),
    ],
)
def test_config_errors_point_at_the_value(repo, cli, text, line, col, message):
    repo.write("compliance.yaml", text)
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 2
    assert f"compliance.yaml:{line}:{col}: " in run.err and message in run.err, run.err


def test_an_empty_config_file_marks_the_root(repo, cli):
    repo.write("sub/compliance.yaml", "# nothing to set yet\n")
    repo.write("sub/t.yaml", PUSH.format(id="t", body="ok"))
    run = cli(["lint", "sub"], cwd=repo.path)
    assert run.code == 0, run.err


def test_line_separator_in_a_plain_scalar_is_named():
    source = parse_text(
        SourceFile(Path("t.yaml"), "t.yaml"), "kind: t\nbody: Hi\u2028there\nid: x\n"
    )
    (problem,) = source.problems
    assert (problem.span.line, problem.span.column) == (2, 9)
    assert "U+2028 LINE SEPARATOR" in problem.message


def test_non_utf8_column_counts_characters():
    raw = 'kind: t\nbody: "üü caf'.encode() + b'\xe9"\n'
    (problem,) = parse_bytes(SourceFile(Path("t.yaml"), "t.yaml"), raw).problems
    assert (problem.span.line, problem.span.column) == (2, 14)


def test_text_after_an_anchor_or_tag_is_placed_exactly():
    doc = parse_text(
        SourceFile(Path("t.yaml"), "t.yaml"),
        'kind: t\nbody: &b "hello \\u200b"\nq: !!str "a\\u200b"\n',
    ).documents[0]
    assert doc.text_span(("body",), 6, 7).column == 17
    assert doc.text_span(("q",), 1, 2).column == 12


def test_errors_on_mapping_keys_point_at_the_key(repo):
    repo.write("s.yaml", SENDER + "registrations: {us: {program: 10dlc}}\nreplies:\n  HELP: x\n")
    found = {(f.line, f.column) for f in lint(["."], cwd=repo.path).findings if f.rule == "schema"}
    assert found == {(8, 17), (10, 3)}


def test_quoted_dates_are_dates_and_numbers_get_a_quote_hint(repo):
    repo.write(
        "t.yaml",
        PUSH.format(id="t", body="'{{x}}'")
        + "suppress:\n  - {rule: placeholder-undeclared, reason: app fills it, expires: '2999-01-01'}\n",
    )
    repo.write("s.yaml", SENDER.replace('"+14155550123"', "+14155550123"))
    result = lint(["."], cwd=repo.path)
    assert [f.suppressed for f in result.findings if f.rule == "placeholder-undeclared"] == [True]
    (schema,) = [f for f in result.findings if f.rule == "schema"]
    assert schema.message == (
        "address: expected text, got the number 14155550123: put it in "
        'quotes ("14155550123") so YAML keeps it as text'
    )


def test_a_folder_given_explicitly_is_linted_whatever_its_name(repo):
    repo.write(".hidden/t.yaml", PUSH.format(id="t", body="'{{x}}'"))
    repo.write("build/u.yaml", PUSH.format(id="u", body="'{{x}}'"))
    assert lint(["."], cwd=repo.path).files == 0
    assert lint([".hidden", "build"], cwd=repo.path).files == 2


def test_a_file_left_out_by_config_is_named(repo, cli):
    repo.write("compliance.yaml", "exclude: [drafts]\n")
    repo.write("drafts/t.yaml", PUSH.format(id="t", body="ok"))
    run = cli(["lint", "drafts/t.yaml"], cwd=repo.path)
    assert run.code == 0
    assert (
        "note: " in run.err
        and "drafts/t.yaml is left out by include/exclude in compliance.yaml" in run.err
    )


def test_suppressed_findings_are_notices_in_github_format(repo, cli):
    repo.write(
        "t.yaml",
        PUSH.format(id="t", body="'{{x}}'")
        + "suppress:\n  - {rule: placeholder-undeclared, reason: app fills it}\n",
    )
    run = cli(["lint", "--format", "github", "--include-suppressed"], cwd=repo.path)
    assert run.code == 0
    assert [line.split(" ")[0] for line in run.out.splitlines() if "placeholder" in line] == [
        "::notice"
    ]


def test_market_option_is_case_insensitive(repo, cli):
    repo.write("t.yaml", PUSH.format(id="t", body="ok"))
    assert cli(["lint", "--market", "us"], cwd=repo.path).code == 0
    assert cli(["rules", "list", "--market", "XX"]).code == 2


def test_hidden_characters_in_keys(repo):
    repo.write(
        "t.yaml",
        PUSH.format(id="t", body="'{{code}}'") + 'variables:\n  "co\\u200bde": {example: "1"}\n',
    )
    messages = [
        f.message for f in lint(["."], cwd=repo.path).findings if f.rule == "hidden-characters"
    ]
    # repr shows the invisible character as an escape
    assert messages == [
        "hidden character U+200B ZERO WIDTH SPACE in the key 'variables.co\\u200bde': remove it"
    ]


def test_segments_refuses_bytes_that_are_not_utf8(cli, monkeypatch):
    run = cli(["segments", "caf\udce9"])
    assert run.code == 2 and "not valid UTF-8 (byte 0xe9)" in run.err


def test_unwritable_output_is_an_error_not_a_usage_banner(repo, cli):
    repo.write("t.yaml", PUSH.format(id="t", body="ok"))
    (repo.path / "ro").write_text("a file where a folder should be")
    run = cli(["lint", "--sarif-output", "ro/x.sarif"], cwd=repo.path)
    assert run.code == 2 and run.err.startswith("error: cannot write ro/x.sarif")
    assert "Usage:" not in run.err


def test_paths_outside_the_working_folder_are_shown_relative(repo):
    repo.write("a/t.yaml", PUSH.format(id="t", body="'{{x}}'"))
    (repo.path / "b").mkdir()
    result = lint(["../a/t.yaml"], cwd=repo.path / "b")
    assert {f.path for f in result.findings} == {"../a/t.yaml"}


def test_no_yaml_comment_cuts_a_citation_short():
    for path in (Path(__file__).resolve().parents[1] / "rules").rglob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip().lstrip("- ")
            if stripped.startswith(("source:", "clause:")):
                value = stripped.split(":", 1)[1].strip()
                assert value[:1] in "\"'" or " #" not in value, f"{path}:{number}"


def test_a_dated_rule_on_a_fallback_outside_its_own_markets_is_placed_on_the_list():
    """A fallback is judged in the markets of the template that falls back to it, which its
    own `markets` may not name (found by tests/test_fuzz.py): the finding goes on the list
    instead of the check crashing on a market it cannot find there."""
    import datetime as dt
    from types import SimpleNamespace

    from compliance.checks import dated_rule
    from compliance.checks.base import Context, RepoIndex
    from compliance.packs import load_packs

    packs = load_packs([])
    rule = packs.rules["us-whatsapp-marketing-paused"]
    model = SimpleNamespace(channel="whatsapp", purpose="marketing", markets=["GB"])
    doc = SimpleNamespace(model=model)
    ctx = Context(RepoIndex(), packs.markets["US"], day=dt.date(2026, 1, 5))
    (hit,) = dated_rule.check(doc, rule.params, ctx)
    assert hit.path == ("markets",)
    model.markets = ["GB", "US"]
    (hit,) = dated_rule.check(doc, rule.params, ctx)
    assert hit.path == ("markets", 1)
