"""The rules reference in Markdown, generated from the packs so that it cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compliance.findings import Citation
from compliance.packs import Packs, Rule

HEADER = """# Rules reference

Generated from `rules/` and `markets/` by `compliance rules doc > docs/rules.md`; do not edit
by hand (a test fails when this file is stale). Severity follows the consequence: **error** for
legal liability or rejection by carriers or platforms, **warning** for filtering risk and good
practice, **info** for notes. Override severities and parameters per repo in `compliance.yaml`.
"""


def render(packs: Packs) -> str:
    enabled: dict[str, list[str]] = {}
    for code, market in sorted(packs.markets.items()):
        for rule_id in market.rules:
            enabled.setdefault(rule_id, []).append(code)
    rules = sorted(packs.rules.values(), key=lambda r: r.id)
    out = [HEADER, "| Rule | Severity | Markets | Summary |", "| --- | --- | --- | --- |"]
    for rule in rules:
        out.append(
            f"| [{rule.id}](#{rule.id}) | {rule.model.severity} | "
            f"{_where(rule, enabled)} | {rule.model.summary} |"
        )
    out.append("")
    if packs.markets:
        out += ["## Markets", ""]
        for code, market in sorted(packs.markets.items()):
            out.append(f"- **{code}** {market.name}: {len(market.rules)} rules")
        out.append("")
    for rule in rules:
        out += _section(rule, enabled)
    return "\n".join(out).rstrip() + "\n"


def _where(rule: Rule, enabled: dict[str, list[str]]) -> str:
    if rule.model.scope == "generic":
        return "all"
    return ", ".join(enabled.get(rule.id, [])) or "none"


def _when(when: Any) -> str:
    """(cited for: ...) where a citation fits some findings only."""
    if when is None:
        return ""
    parts = []
    if when.causes:
        parts.append("findings about " + ", ".join(when.causes))
    if when.channels:
        parts.append("on " + ", ".join(when.channels))
    if when.markets:
        parts.append("in " + ", ".join(when.markets))
    return " (cited for " + "; ".join(parts) + ")"


def _section(rule: Rule, enabled: dict[str, list[str]]) -> list[str]:
    m = rule.model
    applies = m.applies_to
    scope = ", ".join(applies.kinds)
    if applies.channels:
        scope += f"; channels: {', '.join(applies.channels)}"
    if applies.purposes:
        scope += f"; purposes: {', '.join(applies.purposes)}"
    params = ", ".join(f"`{k}: {v}`" for k, v in m.check.params.items())
    lines = [
        f"## {m.id}",
        "",
        f"**{m.summary}**",
        "",
        f"- Severity: {m.severity}",
        f"- Markets: {_where(rule, enabled)}",
        f"- Applies to: {scope}",
        f"- Check: `{m.check.kind}`" + (f" with {params}" if params else ""),
        "",
        m.description.rstrip(),
        "",
        "Sources:",
        "",
    ]
    for citation in m.citations:
        text = citation.source + (f", {citation.clause}" if citation.clause else "")
        entry = f"- [{text}]({citation.url})" if citation.url else f"- {text}"
        lines.append(entry + _when(citation.when))
    for label, cases in (("Passes", m.examples.pass_), ("Fails", m.examples.fail)):
        for case in cases:
            text = case if isinstance(case, str) else case.documents
            lines += ["", f"{label}:", "", "```yaml", text.rstrip(), "```"]
    lines.append("")
    return lines


KINDS_HEADER = """# Check kinds

Generated from `compliance/checks/` by `compliance rules kinds > docs/check-kinds.md`; do not
edit by hand. A rule file names one of these kinds under `check.kind` and sets its parameters
under `check.params`; a market file or `compliance.yaml` may override the parameters.
"""


def render_kinds() -> str:
    from compliance.checks import registry

    out = [KINDS_HEADER]
    for name, module in sorted(registry().items()):
        doc = " ".join((module.__doc__ or "").split())
        out += [f"## {name}", "", doc, "", f"Applies to: {module.SCOPE}s.", ""]
        schema = module.Params.model_json_schema()
        props = schema.get("properties", {})
        if not props:
            out += ["No parameters.", ""]
            continue
        out += ["| parameter | type | default | meaning |", "| --- | --- | --- | --- |"]
        fields = module.Params.model_fields
        for param, spec in props.items():
            info = fields[param]
            if info.is_required():
                default = "required"
            else:
                value = info.default_factory() if info.default_factory else info.default
                default = f"`{value!r}`"
            meaning = spec.get("description", "").replace("|", "\\|")
            out.append(f"| `{param}` | {_type(spec)} | {default} | {meaning} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"list of {_type(spec.get('items', {}))}"
    if spec.get("type") == "object":
        return "mapping"
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    return spec.get("type", "any")


@dataclass(frozen=True)
class RuleRow:
    rule: str
    severity: str
    where: str
    summary: str
    citation: Citation


def rule_rows(packs: Packs, market: str | None = None) -> list[RuleRow]:
    """The rules, sorted by id: all of them, or those that run in `market` with the severity
    and the source they have there."""
    rows: list[RuleRow] = []
    if market is None:
        enabled: dict[str, list[str]] = {}
        for code, pack in sorted(packs.markets.items()):
            for rule_id in pack.rules:
                enabled.setdefault(rule_id, []).append(code)
        for rule in packs.rules.values():
            rows.append(
                RuleRow(
                    rule.id,
                    rule.model.severity,
                    _where(rule, enabled),
                    rule.model.summary,
                    rule.citation,
                )
            )
    else:
        for rule in packs.generic_rules():
            rows.append(
                RuleRow(rule.id, rule.model.severity, "all", rule.model.summary, rule.citation)
            )
        pack = packs.markets.get(market)
        for rule_id, entry in pack.rules.items() if pack is not None else ():
            rule = packs.rules[rule_id]
            citation = entry.citations[0].to_citation() if entry.citations else rule.citation
            rows.append(
                RuleRow(
                    rule_id,
                    entry.severity or rule.model.severity,
                    market,
                    rule.model.summary,
                    citation,
                )
            )
    return sorted(rows, key=lambda r: r.rule)
