"""JUnit XML for CI dashboards (GitLab, Jenkins, Azure): each file a suite, each finding a test
case. Errors and warnings are failures; infos pass, with their text kept in system-out."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import groupby
from typing import Any

from compliance.findings import Finding

# XML 1.0 cannot hold C0 controls other than tab, LF and CR, lone surrogates, or U+FFFE/U+FFFF;
# a template's hidden characters can reach a message, and one of them would make the whole
# report unparseable
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FAILING = ("error", "warning")


def clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _name(f: Finding) -> str:
    return f"{f.rule} {f.line}:{f.column}" + (f" [{f.market}]" if f.market else "")


def _body(f: Finding) -> str:
    text = f.message
    if f.suppressed:
        text += f"\nsuppressed: {f.suppression_reason or ''}"
    if f.citation is not None:
        text += f"\nSource: {f.citation}"
    return clean(text)


def _testcase(parent: ET.Element, f: Finding) -> None:
    case = ET.SubElement(parent, "testcase", classname=clean(f.path), name=clean(_name(f)))
    # a suppressed finding was justified by its author: report it, but do not fail the build
    if f.severity in FAILING and not f.suppressed and not f.baselined:
        failure = ET.SubElement(case, "failure", type=f.severity, message=clean(f.message))
        failure.text = _body(f)
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{f.severity}: {_body(f)}"


def render(result: Any, *, include_suppressed: bool = False, color: bool = False) -> str:
    # color is ignored: this is XML
    findings: list[Finding] = result.reported(include_suppressed)
    failures = sum(1 for f in findings if f.severity in FAILING and not f.suppressed)
    root = ET.Element(
        "testsuites", name="compliance", tests=str(max(len(findings), 1)), failures=str(failures)
    )
    if not findings:
        # dashboards hide runs without test cases; one passing case shows the lint ran
        suite = ET.SubElement(root, "testsuite", name="compliance", tests="1", failures="0")
        ET.SubElement(suite, "testcase", classname="compliance", name="compliance lint")
    # result.findings is sorted by path, so groupby sees each file once
    for path, group in groupby(findings, key=lambda f: f.path):
        cases = list(group)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=clean(path),
            tests=str(len(cases)),
            failures=str(sum(1 for f in cases if f.severity in FAILING and not f.suppressed)),
        )
        for f in cases:
            _testcase(suite, f)
    ET.indent(root)
    # render() returns text that the CLI writes as UTF-8, so declare that encoding ourselves
    # (ElementTree's declaration for encoding="unicode" names no encoding)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
