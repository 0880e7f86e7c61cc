from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCOPE, SENDER, TEMPLATE

BROKEN = "kind: template\nid: t\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: '{{x}}'\n"
WARNING_ONLY = (
    'kind: template\nid: w\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: "a\\u200bb"\n'
)


def clean_repo(repo):
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    repo.write("t.yaml", TEMPLATE)
    return repo


def test_exit_0_when_clean_and_1_with_errors(repo, cli):
    clean_repo(repo)
    run = cli(["lint", "--market", "US"], cwd=repo.path)
    assert run.code == 0, run.out + run.err
    repo.write("bad.yaml", BROKEN)
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 1
    assert "bad.yaml:6:8: error placeholder-undeclared placeholder {{x}} is not declared" in run.out
    assert "source: Meta WhatsApp Business Platform" in run.out
    assert "1 finding at or above 'error' (--fail-on error): exit 1" in run.err


@pytest.mark.parametrize("level, code", [("error", 0), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_levels(repo, cli, level, code):
    repo.write("w.yaml", WARNING_ONLY)
    assert cli(["lint", "--fail-on", level], cwd=repo.path).code == code


def test_fail_on_from_config(repo, cli):
    repo.write("compliance.yaml", "fail_on: warning\n")
    repo.write("w.yaml", WARNING_ONLY)
    assert cli(["lint"], cwd=repo.path).code == 1


def test_exit_2_for_config_errors_with_file_and_line(repo, cli):
    repo.write("compliance.yaml", "markets: [US]\nfail_on: always\n")
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 2
    assert f"{repo.path / 'compliance.yaml'}:2:10: fail_on: 'always' is not allowed" in run.err


def test_exit_2_for_unknown_rule_in_config(repo, cli):
    repo.write("compliance.yaml", "ignore: [sms-segment]\n")
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 2
    assert "unknown rule 'sms-segment'; did you mean 'sms-segments'?" in run.err


def test_exit_2_for_a_missing_path_after_linting_the_others(repo, cli):
    repo.write("bad.yaml", BROKEN)
    run = cli(["lint", "nope.yaml", "bad.yaml"], cwd=repo.path)
    assert run.code == 2
    assert "placeholder-undeclared" in run.out  # the existing path was still linted
    assert "error: nope.yaml: no such file or folder" in run.err


def test_exit_2_for_bad_options(repo, cli):
    assert cli(["lint", "--format", "xml"], cwd=repo.path).code == 2
    run = cli(["lint", "--market", "USA"], cwd=repo.path)
    assert run.code == 2 and "'USA' is not an ISO 3166-1" in run.err


def test_exit_3_for_internal_errors_without_a_traceback(repo, cli, monkeypatch):
    import compliance.engine

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(compliance.engine, "lint", boom)
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 3
    assert "internal error: RuntimeError: kaboom" in run.err
    assert "Please report it at" in run.err
    assert "Traceback" not in run.err


def test_empty_folder_says_there_is_nothing_to_lint(repo, cli):
    run = cli(["lint"], cwd=repo.path)
    assert run.code == 0
    assert "nothing to lint" in run.out


def test_github_format_is_the_default_in_github_actions(repo, cli):
    repo.write("bad.yaml", BROKEN)
    run = cli(["lint"], cwd=repo.path, env={"GITHUB_ACTIONS": "true"})
    assert run.out.startswith("::error file=bad.yaml,line=6,")


def test_output_file_and_sarif_in_the_same_run(repo, cli):
    repo.write("bad.yaml", BROKEN)
    run = cli(
        ["lint", "--format", "json", "-o", "out/report.json", "--sarif-output", "out/report.sarif"],
        cwd=repo.path,
    )
    assert run.code == 1 and run.out == ""
    report = json.loads((repo.path / "out/report.json").read_text())
    assert report["summary"]["errors"] == 1
    sarif = json.loads((repo.path / "out/report.sarif").read_text())
    assert "placeholder-undeclared" in [r["ruleId"] for r in sarif["runs"][0]["results"]]


def test_include_suppressed(repo, cli):
    repo.write(
        "t.yaml", BROKEN + "suppress:\n  - {rule: placeholder-undeclared, reason: app fills it}\n"
    )
    run = cli(["lint", "--no-color"], cwd=repo.path)
    assert run.code == 0 and "placeholder-undeclared" not in run.out
    assert "(1 suppressed)" in run.out
    run = cli(["lint", "--include-suppressed"], cwd=repo.path)
    assert "(suppressed: app fills it)" in run.out


def test_color_only_when_asked_or_on_a_terminal(repo, cli):
    repo.write("bad.yaml", BROKEN)
    assert "\x1b[" not in cli(["lint"], cwd=repo.path).out  # captured output is not a tty
    assert "\x1b[31merror" in cli(["lint", "--color"], cwd=repo.path).out


def test_schema_command(cli):
    run = cli(["schema", "template"])
    schema = json.loads(run.out)
    assert schema["title"] == "compliance template"
    assert schema["additionalProperties"] is False
    assert "oneOf" in json.loads(cli(["schema"]).out)


def test_rules_list_explain_and_test(cli):
    run = cli(["rules", "list"])
    assert run.code == 0
    assert any(
        line.startswith("sms-segments") and "warning" in line for line in run.out.splitlines()
    )
    run = cli(["rules", "explain", "sms-segments"])
    assert "3GPP TS 23.038" in run.out and "Fails:" in run.out
    run = cli(["rules", "explain", "sms-segment"])
    assert run.code == 2 and "did you mean 'sms-segments'?" in run.err
    run = cli(["rules", "test"])
    assert run.code == 0 and " passed, 0 failed" in run.out


def test_rules_test_on_a_user_pack_fails_on_a_wrong_example(cli, tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "pack"
    run = cli(["rules", "test", str(fixture)])
    assert run.code == 0 and "2 passed, 0 failed (1 rules)" in run.out
    (tmp_path / "rules").mkdir()
    text = (
        (fixture / "rules" / "short-sms.yaml")
        .read_text()
        .replace("body: short", "body: '{{long}}'\n        variables: {long: {max_length: 300}}")
    )
    (tmp_path / "rules" / "short-sms.yaml").write_text(text)
    run = cli(["rules", "test", str(tmp_path)])
    assert run.code == 1
    assert "FAIL short-sms pass[1]" in run.out and "expected no finding" in run.out


def test_segments_command(cli, monkeypatch):
    run = cli(["segments", "Hello – world"])
    assert "encoding:   UCS-2" in run.out and "U+2013 EN DASH" in run.out
    run = cli(["segments", "--json", "a" * 161])
    assert json.loads(run.out)["segments"] == 2
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("x" * 160 + "\n"))
    run = cli(["segments", "--json"])
    assert json.loads(run.out) | {} == json.loads(run.out)
    assert json.loads(run.out)["encoding"] == "GSM-7" and json.loads(run.out)["segments"] == 1


def test_python_dash_m_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "compliance", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("compliance, version ")


def test_help_names_the_exit_codes(cli):
    run = cli(["lint", "--help"])
    assert "3  internal error" in run.out


def test_rules_test_on_a_pack_of_markets_only(repo, cli):
    """A pack may hold only a market layer (examples/india): it loads and passes; a pack
    folder with neither rules nor markets is a usage error."""
    repo.write("pack/markets/in.yaml", "code: IN\nname: India (layer)\nrules: []\n")
    run = cli(["rules", "test", str(repo.path / "pack")])
    assert run.code == 0 and "1 market file(s)" in run.out, run.out + run.err
    (repo.path / "empty").mkdir()
    run = cli(["rules", "test", str(repo.path / "empty")])
    assert run.code == 2 and "no rules or markets found" in run.err
