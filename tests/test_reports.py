"""The machine-readable reports (json, sarif, github, junit), checked the way their readers see
them: parsed, validated against their schemas, and compared with the lint result they render.

Every result comes from the real engine run over small repos written under tmp_path.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compliance import __version__
from compliance.engine import LintResult, lint
from compliance.links import HOME, rule_url
from compliance.packs import Packs, load_packs
from compliance.reports import get, github_report, junit_report

ROOT = Path(__file__).resolve().parents[1]
JSON_SCHEMA = ROOT / "docs" / "json-report.schema.json"
SARIF_SCHEMA = Path(__file__).resolve().parents[2] / "shared/schemas/sarif-schema-2.1.0.json"

# unknown sender and consent scope (2 errors), an undeclared placeholder (error), a zero-width
# space (warning) and market-without-pack (info: the tests load no market packs)
TEMPLATE = r"""kind: template
id: spring-sale
channel: sms
purpose: marketing
markets: [US]
sender: acme-us
consent_scope: promos
body: "Hi {{name}} \u200b sale: 50% off, reply STOP"
"""
SUPPRESS = 'suppress: [{rule: hidden-characters, reason: "test fixture"}]\n'
FORMATS = ("json", "sarif", "github", "junit")


@functools.cache
def generic_packs() -> Packs:
    # the shipped rules without the market packs: markets come and go as packs are written,
    # and their findings would change the counts these tests pin; market findings are made
    # with with_market() instead
    packs = load_packs()
    return Packs(rules=dict(packs.rules), markets={})


def run(tmp_path: Path, files: dict[str, str]) -> LintResult:
    (tmp_path / ".git").mkdir(exist_ok=True)  # makes tmp_path the repo root
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return lint(list(files), cwd=tmp_path, packs=generic_packs())


def render(fmt: str, result: LintResult, **kwargs: Any) -> str:
    return get(fmt).render(result, **kwargs)


@pytest.fixture
def result(tmp_path: Path) -> LintResult:
    return run(tmp_path, {"templates/spring-sale.yaml": TEMPLATE})


@pytest.fixture
def suppressed(tmp_path: Path) -> LintResult:
    return run(tmp_path, {"templates/spring-sale.yaml": TEMPLATE + SUPPRESS})


@pytest.fixture
def empty(tmp_path: Path) -> LintResult:
    # a YAML file that holds no document: nothing to find
    return run(tmp_path, {"settings.yaml": "name: not a document\n"})


def with_market(result: LintResult, market: str = "US") -> LintResult:
    """The result as if a market pack had raised its findings: market findings need a pack,
    and which packs ship is not this module's business."""
    return dataclasses.replace(result, findings=[f.with_(market=market) for f in result.findings])


def test_fixture_yields_the_findings_the_tests_rely_on(result: LintResult) -> None:
    rules = [(f.rule, f.severity) for f in result.findings]
    assert rules.count(("unknown-reference", "error")) == 2
    assert ("placeholder-undeclared", "error") in rules
    assert ("hidden-characters", "warning") in rules
    assert all(f.path == "templates/spring-sale.yaml" for f in result.findings)


# json ------------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    schema = json.loads(JSON_SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_json_report_validates_and_matches_the_result(result: LintResult) -> None:
    text = render("json", result)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "version": 1,')  # indent=2
    data = json.loads(text)
    jsonschema.validate(data, json_schema(), cls=jsonschema.Draft202012Validator)
    assert data["version"] == 1
    assert data["tool"] == {"name": "compliance", "version": __version__}
    assert data["summary"] == result.summary()
    s = data["summary"]
    assert len(data["findings"]) == s["errors"] + s["warnings"] + s["infos"] == 5
    assert [f["rule"] for f in data["findings"]] == [f.rule for f in result.findings]
    first = next(f for f in data["findings"] if f["field"] == "sender")
    assert first["line"] == 6 and first["column"] == 9 and first["document"] == "spring-sale"
    assert first["citation"]["source"]
    assert "suppression_reason" not in first


def test_json_report_keeps_non_ascii_text(tmp_path: Path) -> None:
    res = run(tmp_path, {"t.yaml": TEMPLATE.replace("id: spring-sale", "id: café-olé")})
    text = render("json", res)
    assert "café-olé" in text and "\\u00e9" not in text
    jsonschema.validate(json.loads(text), json_schema(), cls=jsonschema.Draft202012Validator)


def test_json_report_of_nothing_validates(empty: LintResult) -> None:
    data = json.loads(render("json", empty))
    jsonschema.validate(data, json_schema(), cls=jsonschema.Draft202012Validator)
    assert data["findings"] == [] and data["summary"]["files"] == 1


def test_json_report_with_market_validates(result: LintResult) -> None:
    data = json.loads(render("json", with_market(result)))
    jsonschema.validate(data, json_schema(), cls=jsonschema.Draft202012Validator)
    assert {f["market"] for f in data["findings"]} == {"US"}


def test_json_schema_is_strict(result: LintResult) -> None:
    schema = json_schema()
    data = json.loads(render("json", result))
    extra = json.loads(json.dumps(data))
    extra["findings"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(extra, schema, cls=jsonschema.Draft202012Validator)
    wrong = json.loads(json.dumps(data))
    wrong["findings"][0]["suppressed"] = True  # without the reason that must come with it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema, cls=jsonschema.Draft202012Validator)
    missing = json.loads(json.dumps(data))
    del missing["findings"][0]["market"]  # nullable, but never absent
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing, schema, cls=jsonschema.Draft202012Validator)


# sarif -----------------------------------------------------------------------------------


def sarif_validator() -> jsonschema.protocols.Validator:
    if not SARIF_SCHEMA.is_file():
        pytest.skip("shared SARIF schema not present beside the checkout")
    schema = json.loads(SARIF_SCHEMA.read_text("utf-8"))
    # the validator the schema's own $schema names (the OASIS file says draft-04)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def sarif(result: LintResult, **kwargs: Any) -> dict[str, Any]:
    data = json.loads(render("sarif", result, **kwargs))
    sarif_validator().validate(data)
    return data


def test_sarif_validates_and_describes_the_run(result: LintResult) -> None:
    data = sarif(result)
    assert data["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert data["version"] == "2.1.0"
    [run_] = data["runs"]
    driver = run_["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["informationUri"]) == (
        "compliance",
        __version__,
        HOME,
    )
    root = run_["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert root.startswith("file:///") and root.endswith("/")
    assert len(run_["results"]) == 5


def test_sarif_lists_only_the_rules_that_fired(result: LintResult) -> None:
    run_ = sarif(result)["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert sorted(set(ids)) == sorted(ids) == sorted({f.rule for f in result.findings})
    assert len(ids) < len(result.packs.rules)
    for res in run_["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    hidden = rules[ids.index("hidden-characters")]
    model = result.packs.rules["hidden-characters"].model
    assert hidden["name"] == "hidden-characters"
    assert hidden["shortDescription"]["text"] == model.summary
    assert hidden["fullDescription"]["text"] == model.description.strip()
    assert hidden["helpUri"] == rule_url("hidden-characters")
    assert hidden["defaultConfiguration"]["level"] == "warning"
    assert "compliance" in hidden["properties"]["tags"]
    for citation in model.citations:
        assert citation.url and citation.url in hidden["help"]["markdown"]
        assert citation.url in hidden["help"]["text"]
    # info has no SARIF level of its own
    info = rules[ids.index("market-without-pack")]
    assert info["defaultConfiguration"]["level"] == "note"


def test_sarif_results_point_at_the_finding(result: LintResult) -> None:
    results = sarif(result)["runs"][0]["results"]
    by_field = {r["properties"]["field"]: r for r in results}
    sender = by_field["sender"]
    assert sender["level"] == "error"
    assert sender["message"]["text"].startswith("sender 'acme-us' is not defined")
    location = sender["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {
        "uri": "templates/spring-sale.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert location["region"] == {"startLine": 6, "startColumn": 9, "endLine": 6, "endColumn": 16}
    assert sender["properties"]["document"] == "spring-sale"
    assert sender["properties"]["citation"]["source"]
    assert "suppressions" not in sender
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["market-without-pack"] == "note"


def test_sarif_market_goes_into_the_message(result: LintResult) -> None:
    results = sarif(with_market(result, "GB"))["runs"][0]["results"]
    assert all(r["message"]["text"].endswith(" [market GB]") for r in results)
    assert all(r["properties"]["market"] == "GB" for r in results)


def test_sarif_fingerprints_survive_moved_lines(tmp_path: Path) -> None:
    before = sarif(run(tmp_path, {"t.yaml": TEMPLATE}))["runs"][0]["results"]
    after = sarif(run(tmp_path, {"t.yaml": "\n\n\n" + TEMPLATE}))["runs"][0]["results"]

    def keyed(results: list[dict[str, Any]]) -> dict[str, int]:
        return {
            r["partialFingerprints"]["compliance/v1"]: r["locations"][0]["physicalLocation"][
                "region"
            ]["startLine"]
            for r in results
        }

    old, new = keyed(before), keyed(after)
    assert len(old) == len(before) == 5  # one fingerprint per finding
    assert set(old) == set(new)
    assert all(new[key] == old[key] + 3 for key in old)


def test_sarif_gives_unknown_rules_a_minimal_entry(result: LintResult) -> None:
    odd = dataclasses.replace(
        result, findings=[f.with_(rule="no-such-rule") for f in result.findings[:1]]
    )
    run_ = sarif(odd)["runs"][0]
    [rule] = run_["tool"]["driver"]["rules"]
    assert rule["id"] == "no-such-rule" and rule["helpUri"] == rule_url("no-such-rule")
    assert run_["results"][0]["ruleIndex"] == 0


def test_sarif_of_nothing_validates(empty: LintResult) -> None:
    run_ = sarif(empty)["runs"][0]
    assert run_["results"] == [] and run_["tool"]["driver"]["rules"] == []


# github ----------------------------------------------------------------------------------

COMMAND = re.compile(
    r"^::(error|warning|notice) file=(?P<file>[^,]+),line=(\d+),endLine=(\d+),col=(\d+),"
    r"endColumn=(\d+),title=(?P<title>[^,:]+)::(?P<message>.+)$"
)


def parsed(line: str) -> re.Match[str]:
    match = COMMAND.match(line)
    assert match, line
    return match


def test_github_commands_have_the_expected_shape(result: LintResult) -> None:
    lines = render("github", result).splitlines()
    commands, summary = lines[:-1], lines[-1]
    assert summary == "3 errors, 1 warning, 1 info in 1 document (1 file)"
    assert len(commands) == len(result.findings)
    assert commands[0] == (
        "::error file=templates/spring-sale.yaml,line=6,endLine=6,col=9,endColumn=16,"
        "title=unknown-reference::sender 'acme-us' is not defined in this repo; define a "
        "sender with this id%0A%0ASource: compliance document format, "
        "docs/documents.md#references"
    )
    # worst first, then in file order: the info on line 5 comes last
    matches = [parsed(line) for line in commands]
    assert [m.group(1) for m in matches] == ["error", "error", "error", "warning", "notice"]
    assert [int(m.group(3)) for m in matches] == [6, 7, 8, 8, 5]


def test_github_title_names_the_market(result: LintResult) -> None:
    lines = render("github", with_market(result)).splitlines()[:-1]
    assert all(",title=" in line for line in lines)
    titles = {parsed(line).group("title") for line in lines}
    assert "hidden-characters [US]" in titles


def test_github_escapes_messages_and_properties(tmp_path: Path) -> None:
    # a file name with ',' ':' and '%' and an id with '%' that the schema error message quotes
    name = "sale, 50%: off.yaml"
    res = run(tmp_path, {name: TEMPLATE.replace("id: spring-sale", "id: 50%-off")})
    lines = render("github", res).splitlines()[:-1]
    assert lines
    for line in lines:
        assert parsed(line).group("file") == "sale%2C 50%25%3A off.yaml"
        assert "\n" not in line
    schema = next(line for line in lines if "title=schema::" in line)
    assert "'50%25-off'" in schema
    assert "%0A%0ASource: " in schema


def test_escape_functions() -> None:
    assert github_report.escape_data("100% sure\r\nnext: a,b") == "100%25 sure%0D%0Anext: a,b"
    assert github_report.escape_property("a,b: 5%\n") == "a%2Cb%3A 5%25%0A"
    # '%' is escaped once, before the escapes that introduce '%'
    assert github_report.escape_data("%0A") == "%250A"
    assert github_report.escape_property("%3A") == "%253A"


def test_github_of_nothing_is_just_the_summary(empty: LintResult) -> None:
    assert render("github", empty).splitlines() == [
        "1 file read, but none holds a document (a YAML mapping with kind: template, "
        "sender or consent_scope)"
    ]


# junit -----------------------------------------------------------------------------------


def junit(result: LintResult, **kwargs: Any) -> ET.Element:
    text = render("junit", result, **kwargs)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_counts_errors_and_warnings_as_failures(result: LintResult) -> None:
    root = junit(result)
    s = result.summary()
    assert root.tag == "testsuites" and root.get("name") == "compliance"
    failures = root.findall(".//failure")
    assert len(failures) == int(root.get("failures", "")) == s["errors"] + s["warnings"]
    cases = root.findall(".//testcase")
    assert len(cases) == int(root.get("tests", "")) == len(result.findings)
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "templates/spring-sale.yaml"
    assert {c.get("classname") for c in cases} == {"templates/spring-sale.yaml"}
    sender = next(c for c in cases if c.get("name") == "unknown-reference 6:9")
    failure = sender.find("failure")
    assert failure is not None and failure.get("type") == "error"
    assert failure.get("message", "").startswith("sender 'acme-us' is not defined")
    assert "compliance document format" in (failure.text or "")
    info = next(c for c in cases if c.get("name", "").startswith("market-without-pack"))
    assert info.find("failure") is None
    assert "no rule pack for market US" in (info.findtext("system-out") or "")


def test_junit_groups_by_file_and_names_the_market(tmp_path: Path) -> None:
    res = run(
        tmp_path, {"a.yaml": TEMPLATE, "b.yaml": TEMPLATE.replace("spring-sale", "autumn-sale")}
    )
    root = junit(with_market(res))
    assert [s.get("name") for s in root.findall("testsuite")] == ["a.yaml", "b.yaml"]
    names = [c.get("name", "") for c in root.findall(".//testcase")]
    assert "unknown-reference 6:9 [US]" in names


def test_junit_without_findings_has_one_passing_case(empty: LintResult) -> None:
    root = junit(empty)
    [case] = root.findall(".//testcase")
    assert case.get("name") == "compliance lint"
    assert root.get("failures") == "0" and root.get("tests") == "1"
    assert not root.findall(".//failure")


def test_junit_strips_what_xml_cannot_hold(result: LintResult) -> None:
    odd = dataclasses.replace(
        result, findings=[f.with_(message="bell\x07 esc\x1b tab\tok") for f in result.findings]
    )
    root = junit(odd)
    failure = root.find(".//failure")
    assert failure is not None and failure.get("message") == "bell esc tab\tok"
    assert junit_report.clean("a\x00b\x0bc\ud800d\r\n") == "abcd\r\n"


# suppressed findings ---------------------------------------------------------------------


def test_suppressed_findings_are_left_out_by_default(suppressed: LintResult) -> None:
    assert [f.rule for f in suppressed.findings if f.suppressed] == ["hidden-characters"]
    assert suppressed.summary()["suppressed"] == 1
    data = json.loads(render("json", suppressed))
    assert "hidden-characters" not in {f["rule"] for f in data["findings"]}
    assert data["summary"]["suppressed"] == 1
    run_ = sarif(suppressed)["runs"][0]
    assert "hidden-characters" not in {r["ruleId"] for r in run_["results"]}
    assert "hidden-characters" not in {r["id"] for r in run_["tool"]["driver"]["rules"]}
    assert "hidden-characters" not in render("github", suppressed)
    assert "hidden-characters" not in render("junit", suppressed)


def test_suppressed_findings_are_shown_on_request(suppressed: LintResult) -> None:
    data = json.loads(render("json", suppressed, include_suppressed=True))
    jsonschema.validate(data, json_schema(), cls=jsonschema.Draft202012Validator)
    [hidden] = [f for f in data["findings"] if f["rule"] == "hidden-characters"]
    assert hidden["suppressed"] is True and hidden["suppression_reason"] == "test fixture"

    results = sarif(suppressed, include_suppressed=True)["runs"][0]["results"]
    [hit] = [r for r in results if r["ruleId"] == "hidden-characters"]
    assert hit["suppressions"] == [{"kind": "inSource", "justification": "test fixture"}]
    assert all("suppressions" not in r for r in results if r is not hit)

    github = render("github", suppressed, include_suppressed=True)
    assert "title=hidden-characters::" in github

    root = junit(suppressed, include_suppressed=True)
    names = [c.get("name", "") for c in root.findall(".//testcase")]
    assert any(n.startswith("hidden-characters ") for n in names)
    # a justified finding is reported but does not fail the build
    s = suppressed.summary()
    assert int(root.get("failures", "")) == s["errors"] + s["warnings"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_color_changes_nothing_in_machine_formats(fmt: str, result: LintResult) -> None:
    assert render(fmt, result, color=True) == render(fmt, result)
