"""Docs that are generated or quoted from the code must match it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from compliance.cli import cli
from compliance.config import ConfigModel
from compliance.packs import load_packs
from compliance.rulesdoc import render

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


def test_rules_reference_is_current():
    assert (ROOT / "docs" / "rules.md").read_text("utf-8") == render(load_packs()), (
        "docs/rules.md is stale: run `compliance rules doc > docs/rules.md`"
    )


def test_check_kinds_reference_is_current():
    from compliance.rulesdoc import render_kinds

    assert (ROOT / "docs" / "check-kinds.md").read_text("utf-8") == render_kinds(), (
        "docs/check-kinds.md is stale: run `compliance rules kinds > docs/check-kinds.md`"
    )


def test_every_command_is_in_the_readme():
    for name, command in cli.commands.items():
        assert f"compliance {name}" in README, name
        for sub in getattr(command, "commands", {}):
            assert f"compliance {name} {sub}" in README, (name, sub)


def test_every_lint_option_is_in_the_readme():
    for param in cli.commands["lint"].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in README, opt


def test_every_report_option_is_in_the_readme():
    section = README.split("## The compliance report", 1)[1].split("\n## ", 1)[0]
    for param in cli.commands["report"].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-") and opt != "--output":
                assert f"`{opt}" in section, opt


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_readme_config_example_is_valid():
    (config,) = [b for b in yaml_blocks(README) if b.startswith("markets:")]
    ConfigModel.model_validate(YAML(typ="safe").load(config))


@pytest.mark.parametrize("doc", ["README.md", "docs/documents.md"])
def test_document_examples_in_docs_are_valid(doc, tmp_path):
    from compliance.loader import SourceFile, parse_text
    from compliance.validation import validate

    for block in yaml_blocks((ROOT / doc).read_text("utf-8")):
        source = parse_text(SourceFile(Path("x.yaml"), "x.yaml"), block)
        for yaml_doc in source.documents:
            validated = validate(yaml_doc)
            if validated is not None:
                assert validated.problems == [], (doc, block)


def test_rule_citations_to_our_docs_point_at_existing_headings():
    headings = {}
    for path in (ROOT / "docs").glob("*.md"):
        text = path.read_text("utf-8")
        headings[f"docs/{path.name}"] = {
            re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, re.M)
        }
    for rule in load_packs().rules.values():
        for citation in rule.model.citations:
            clause = citation.clause or ""
            if clause.startswith("docs/"):
                page, _, anchor = clause.split()[0].rstrip(":,;").partition("#")
                assert page in headings, (rule.id, clause)
                assert not anchor or anchor in headings[page], (rule.id, clause)


def test_readme_grants_are_what_the_command_prints():
    from compliance.gate.ledger.pg_grants import statements

    printed = "\n".join(statements("compliance_app", "compliance_auditor"))
    blocks = re.findall(r"```sql\n(.*?)```", README, flags=re.S)
    assert printed + "\n" in blocks, "README's grants differ from `compliance ledger grants`"
