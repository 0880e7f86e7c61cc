"""`compliance rules test`: run every rule's pass and fail examples through the real linter."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from compliance.config import Config, ConfigModel, RuleSettings
from compliance.errors import ConfigError, PackError, UsageError
from compliance.packs import ExampleCase, Market, MarketParameters, MarketRule, Packs, Rule


@dataclass
class CaseResult:
    rule: str
    expect: str  # "pass" or "fail"
    number: int  # 1-based within its list
    ok: bool
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.rule} {self.expect}[{self.number}]"


def run_examples(packs: Packs, rules: list[Rule] | None = None) -> list[CaseResult]:
    results: list[CaseResult] = []
    for rule in rules if rules is not None else list(packs.rules.values()):
        examples = rule.model.examples
        for expect, cases in (("pass", examples.pass_), ("fail", examples.fail)):
            for number, case in enumerate(cases, 1):
                results.append(_run_case(packs, rule, expect, number, case, examples.context))
    return results


def _markets_named(text: str) -> list[str]:
    from compliance.loader import SourceFile, parse_text

    source = parse_text(SourceFile(Path("example.yaml"), "example.yaml"), text)
    codes: list[str] = []
    for doc in source.documents:
        markets = doc.data.get("markets") if isinstance(doc.data, dict) else None
        if isinstance(markets, list):
            codes.extend(m for m in markets if isinstance(m, str) and m not in codes)
    return codes


def _enable_everywhere(packs: Packs, rule: Rule, codes: list[str]) -> Packs:
    """A market rule's examples must exercise it whichever markets they name: enable it in
    each of them for the run (with the market's own parameters where a pack exists)."""
    if rule.model.scope == "generic":
        return packs
    markets = dict(packs.markets)
    for code in codes:
        base = markets.get(code) or Market(code, code, MarketParameters(), {}, [])
        entry = base.rules.get(rule.id) or MarketRule(rule=rule.id)
        markets[code] = replace(base, rules={**base.rules, rule.id: entry})
    return Packs(packs.rules, markets)


def _run_case(
    packs: Packs, rule: Rule, expect: str, number: int, case: str | ExampleCase, context: str | None
) -> CaseResult:
    from compliance.engine import lint

    if isinstance(case, str):
        case = ExampleCase(documents=case)
    with tempfile.TemporaryDirectory(prefix="compliance-example-") as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()  # the example folder is its own repo
        example = root / "example.yaml"
        example.write_text(case.documents, "utf-8")
        if context:
            (root / "context.yaml").write_text(context, "utf-8")
        settings = {rule.id: RuleSettings(params=case.params)} if case.params else {}
        config = Config(ConfigModel(markets=case.markets, rules=settings), None, root)
        run_packs = _enable_everywhere(packs, rule, case.markets or _markets_named(case.documents))
        try:
            result = lint([example], config=config, packs=run_packs, cwd=root)
        except (UsageError, ConfigError) as exc:  # the example's own params or markets
            raise PackError(
                f"rule {rule.id!r}, {expect} example {number}: {exc}",
                *rule.where(("examples", expect)),
            ) from None
    mine = [f for f in result.findings if f.rule == rule.id and not f.suppressed]
    shown = [f"{f.path}:{f.line}:{f.column}: {f.message}" for f in mine]
    problems: list[str] = []
    if expect == "pass" and mine:
        problems.append("expected no finding")
    if expect == "fail":
        if not mine:
            problems.append("expected a finding, got none")
        for text in case.expect:
            if not any(text in f.message for f in mine):
                problems.append(f"no finding says {text!r}")
    return CaseResult(rule.id, expect, number, not problems, problems, shown)
