from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compliance.engine import lint
from compliance.errors import UsageError
from tests.conftest import SCOPE, SENDER, TEMPLATE

FIXTURE_PACK = Path(__file__).parent / "fixtures" / "pack"


def rules_of(result) -> list[tuple[str, str, int]]:
    return [(f.rule, f.path, f.line) for f in result.findings if f.rule != "market-without-pack"]


def test_references_resolve_across_the_repo_when_one_file_is_linted(repo):
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/promos.yaml", SCOPE)
    target = repo.write("templates/sale.yaml", TEMPLATE)
    result = lint([target], cwd=repo.path)
    assert rules_of(result) == []
    assert result.files == 1 and result.documents == 1


def test_only_the_given_files_are_reported(repo):
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/promos.yaml", SCOPE)
    repo.write("templates/broken.yaml", TEMPLATE.replace("acme-us", "nobody"))
    clean = repo.write("templates/sale.yaml", TEMPLATE.replace("spring-sale", "other"))
    assert rules_of(lint([clean], cwd=repo.path)) == []
    assert rules_of(lint(["."], cwd=repo.path)) == [
        ("unknown-reference", "templates/broken.yaml", 6)
    ]


def test_config_include_exclude_and_rule_settings(repo):
    repo.write(
        "compliance.yaml",
        """
        exclude: [drafts]
        rules:
          placeholder-undeclared: {severity: warning}
          hidden-characters: {ignore: [legacy/**]}
    """,
    )
    body = 'kind: template\nid: {id}\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: "{{{{x}}}} \\u200b"\n'
    repo.write("drafts/a.yaml", body.format(id="a"))
    repo.write("legacy/b.yaml", body.format(id="b"))
    repo.write("c.yaml", body.format(id="c"))
    result = lint(["."], cwd=repo.path)
    got = sorted(
        (f.rule, f.path, f.severity) for f in result.findings if f.rule != "market-without-pack"
    )
    assert got == [
        ("hidden-characters", "c.yaml", "warning"),
        ("placeholder-undeclared", "c.yaml", "warning"),
        ("placeholder-undeclared", "legacy/b.yaml", "warning"),
    ]


def test_config_rule_params_reach_the_check(repo):
    repo.write("compliance.yaml", "rules:\n  sms-segments: {params: {max_segments: 1}}\n")
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    repo.write("t.yaml", TEMPLATE.replace("max_length: 8", "max_length: 150"))
    result = lint(["."], cwd=repo.path)
    assert [f.message for f in result.findings if f.rule == "sms-segments"] == [
        "body needs 2 SMS segments (GSM-7, 197 septets, variables at their longest); the limit "
        "is 1; shorten the text"
    ]


def test_market_rules_run_with_market_severity_params_and_enforcement(repo):
    repo.write("compliance.yaml", f"packs: [{FIXTURE_PACK}]\n")
    repo.write("s.yaml", SENDER.replace("markets: [US]", "markets: [NZ, FJ, US]"))
    body = (
        "kind: template\nid: {id}\nchannel: sms\npurpose: transactional\nmarkets: [{m}]\n"
        'sender: acme-us\nbody: "{{{{t}}}}"\nvariables:\n  t: {{max_length: 200}}\n'
    )
    repo.write("nz.yaml", body.format(id="nz", m="NZ"))
    repo.write("fj.yaml", body.format(id="fj", m="FJ"))
    result = lint(["."], cwd=repo.path)
    short = {f.path: f for f in result.findings if f.rule == "short-sms"}
    assert short["nz.yaml"].severity == "error" and short["nz.yaml"].market == "NZ"
    assert "fj.yaml" not in short  # FJ allows 2 segments; 200 characters need 2
    assert not [f for f in result.findings if f.rule == "market-without-pack"]
    only_fj = lint(["."], cwd=repo.path, markets=["FJ"])
    assert not [f for f in only_fj.findings if f.rule == "short-sms"]


def test_market_without_pack_is_an_info_per_template_market(repo):
    repo.write(
        "t.yaml", "kind: template\nid: t\nchannel: push\npurpose: otp\nmarkets: [MX, BR]\nbody: x\n"
    )
    result = lint(["."], cwd=repo.path, markets=["MX"])
    assert [(f.rule, f.severity, f.field) for f in result.findings] == [
        ("market-without-pack", "info", "markets[0]")
    ]


def test_unknown_market_option_is_a_usage_error(repo):
    with pytest.raises(UsageError, match="'USA' is not an ISO 3166-1"):
        lint(["."], cwd=repo.path, markets=["USA"])


def test_suppressions_mark_findings_and_report_expiry_and_unused(repo):
    repo.write(
        "t.yaml",
        """
        kind: template
        id: t
        channel: push
        purpose: otp
        markets: [US]
        body: "{{a}} {{b}}"
        suppress:
          - {rule: placeholder-undeclared, reason: filled by the app, expires: 2026-06-30}
          - {rule: hidden-characters, reason: legacy text}
    """,
    )
    before = lint(["."], cwd=repo.path, today=dt.date(2026, 6, 30))
    got = [(f.rule, f.suppressed) for f in before.findings if f.rule != "market-without-pack"]
    assert got == [
        ("placeholder-undeclared", True),
        ("placeholder-undeclared", True),
        ("suppression-unused", False),
    ]
    assert before.summary()["suppressed"] == 2
    assert not before.failed("error")
    after = lint(["."], cwd=repo.path, today=dt.date(2026, 7, 1))
    got = [(f.rule, f.suppressed) for f in after.findings if f.rule != "market-without-pack"]
    assert got == [
        ("placeholder-undeclared", False),
        ("placeholder-undeclared", False),
        ("suppression-expired", False),
        ("suppression-unused", False),
    ]
    assert after.failed("error")


def test_bad_files_are_findings_and_the_run_goes_on(repo):
    repo.write("bad.yaml", "kind: template\nid: [\n")
    (repo.path / "latin1.yaml").write_bytes(b"kind: template\nbody: caf\xe9\n")
    repo.write(
        "good.yaml", "kind: template\nid: t\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: x\n"
    )
    result = lint(["."], cwd=repo.path)
    assert [(f.rule, f.path) for f in result.findings if f.severity == "error"] == [
        ("yaml-syntax", "bad.yaml"),
        ("yaml-syntax", "latin1.yaml"),
    ]
    assert result.documents == 1


def test_empty_folder_and_missing_paths(repo):
    result = lint(["."], cwd=repo.path)
    assert (result.files, result.documents, result.findings) == (0, 0, [])
    result = lint(["nope", "."], cwd=repo.path)
    assert result.missing == ["nope"]


def test_findings_carry_document_field_citation_and_a_line_independent_fingerprint(repo):
    repo.write(
        "t.yaml",
        "kind: template\nid: t\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: '{{x}}'\n",
    )
    (finding,) = [
        f for f in lint(["."], cwd=repo.path).findings if f.rule == "placeholder-undeclared"
    ]
    assert (finding.document, finding.field, finding.line, finding.column) == ("t", "body", 6, 8)
    assert finding.citation is not None and finding.citation.source
    repo.write(
        "t.yaml",
        "# moved\n\n\nkind: template\nid: t\nchannel: push\npurpose: otp\nmarkets: [US]\nbody: '{{x}}'\n",
    )
    (moved,) = [
        f for f in lint(["."], cwd=repo.path).findings if f.rule == "placeholder-undeclared"
    ]
    assert moved.line == 9 and moved.fingerprint == finding.fingerprint


def test_each_finding_cites_the_source_for_its_own_cause(repo):
    """A rule with several sources cites the one that fits the finding: the sender's channel
    is the document format's; GDPR where the template targets a European market, CTIA's
    one opt-in per campaign where it texts the US; a duplicate key the YAML rule on keys."""
    repo.write(
        "senders.yaml",
        """
        kind: sender
        id: us-10dlc
        channel: sms
        type: long_code
        address: "+14155550123"
        purposes: [transactional]
        registrations:
          US: {program: 10dlc, brand_id: B1, campaign_id: C1, use_case: ACCOUNT_NOTIFICATION, status: active}
        ---
        kind: consent_scope
        id: sms-only
        channels: [sms]
        purposes: [marketing]
        consent: express_written
        """,
    )
    repo.write(
        "templates.yaml",
        """
        kind: template
        id: wa-on-sms-sender
        channel: whatsapp
        purpose: transactional
        markets: [DE]
        sender: us-10dlc
        consent_scope: sms-only
        body: "Ihre Bestellung ist unterwegs."
        ---
        kind: template
        id: promo-from-notifications
        channel: sms
        purpose: marketing
        markets: [US]
        sender: us-10dlc
        consent_scope: sms-only
        body: "Acme: 20% off today. Reply STOP to opt out."
        ---
        kind: template
        id: code-on-marketing-scope
        channel: sms
        purpose: otp
        markets: [US]
        sender: us-10dlc
        consent_scope: sms-only
        body: "Your Acme code is {{code}}."
        variables:
          code: {example: "123456"}
        """,
    )
    repo.write("broken.yaml", "kind: template\nid: x\nid: y\n")
    found = lint(["."], cwd=repo.path).findings

    def cited(rule, document=None, contains=""):
        (f,) = [
            f for f in found if f.rule == rule and f.document == document and contains in f.message
        ]
        return f.citation.source + " " + (f.citation.clause or "")

    assert "document format" in cited("sender-covers-template", "wa-on-sms-sender", "sends sms")
    assert "GDPR" in cited("consent-scope-covers-template", "wa-on-sms-sender", "not whatsapp")
    us = cited("consent-scope-covers-template", "code-on-marketing-scope")
    assert "GDPR" not in us and "CTIA" in us
    assert "3.2.1.1" in cited("yaml-syntax", None, "duplicate key")
    # one cause, one finding: the 10DLC use case names the purpose the sender does not cover
    assert [f.rule for f in found if f.document == "promo-from-notifications"].count(
        "sender-covers-template"
    ) == 0
    assert "us-10dlc-use-case" in [
        f.rule for f in found if f.document == "promo-from-notifications"
    ]


@pytest.mark.parametrize(
    ("market", "law"),
    [("GB", "SI 2003/2426"), ("AU", "Spam Act 2003"), ("DE", "2002/58/EC"), ("CA", "CASL")],
)
def test_a_rule_that_runs_in_every_market_cites_the_law_of_the_templates(repo, market, law):
    """A generic rule cites the source of the market its template targets: a dead STOP from an
    alphanumeric sender is PECR's breach in GB and the Spam Act's in AU, a promotion in a
    service message the law on marketing of that market."""
    repo.write(
        "t.yaml",
        f"""
        kind: sender
        id: alpha
        channel: sms
        type: alphanumeric
        address: Velora
        brand: Velora
        markets: [{market}]
        purposes: [marketing, transactional]
        ---
        kind: consent_scope
        id: offers
        channels: [sms]
        purposes: [marketing]
        consent: express
        ---
        kind: template
        id: dead-stop
        channel: sms
        purpose: marketing
        markets: [{market}]
        sender: alpha
        consent_scope: offers
        body: "Velora: 20% off all week at velora.example. Reply STOP to opt out."
        ---
        kind: template
        id: upsell
        channel: sms
        purpose: transactional
        commercial: true
        markets: [{market}]
        sender: alpha
        body: "Velora: your order has shipped. Take 20% off your next order with code SHIP20."
        """,
    )
    found = lint(["."], cwd=repo.path).findings
    (dead,) = [f for f in found if f.rule == "opt-out-sender-capability"]
    assert law in dead.citation.source, dead.citation
    (promo,) = [f for f in found if f.rule == "content-promotional-in-service"]  # one sentence
    assert "FCC" not in promo.citation.source, promo


def test_one_cause_one_finding_a_broken_reference_and_a_wrong_status(repo):
    """A misspelt sender or scope is one finding at the reference, not advice about what it
    would have resolved to; a wrong value in a field no rule depends on (status) is a schema
    finding that leaves the document's other findings in place."""
    repo.write(
        "t.yaml",
        """
        kind: sender
        id: trailhead
        channel: sms
        type: short_code
        address: "48213"
        brand: Trailhead
        ---
        kind: consent_scope
        id: offers
        consent: express
        purposes: [marketing]
        ---
        kind: template
        id: misspelt
        channel: sms
        purpose: marketing
        markets: [US, SG]
        sender: trailhed
        consent_scope: offrs
        body: "Trailhead: 25% off tents this weekend. trailhead.example. Reply STOP to opt out."
        ---
        kind: template
        id: bad-status
        channel: sms
        purpose: marketing
        markets: [US]
        sender: trailhead
        consent_scope: offers
        status: aproved
        body: "25% off tents this weekend."
        """,
    )
    found = lint(["."], cwd=repo.path).findings
    misspelt = sorted(f.rule for f in found if f.document == "misspelt")
    assert misspelt == ["unknown-reference", "unknown-reference"], misspelt
    bad = {f.rule for f in found if f.document == "bad-status"}
    assert {"schema", "us-marketing-brand", "us-marketing-opt-out"} <= bad, bad


def test_a_folder_with_its_own_config_is_a_repo_of_its_own(repo, cli):
    """Linting from above lints each repo with its own config and its own documents: ids may
    repeat across repos, references do not cross them, and each repo's fail_on holds."""
    sender = "kind: sender\nid: s\nchannel: push\ntype: long_code\naddress: '+14155550123'\n"
    template = (
        "kind: template\nid: t\nchannel: sms\npurpose: transactional\nmarkets: [US]\n"
        "sender: {sender}\nbody: 'Your order shipped.'\n"
    )
    repo.write("compliance.yaml", "fail_on: error\n")
    repo.write("a/compliance.yaml", "fail_on: never\n")
    repo.write("a/s.yaml", sender)
    repo.write("a/t.yaml", template.format(sender="s"))
    repo.write("b/compliance.yaml", "fail_on: error\n")
    repo.write("b/t.yaml", template.format(sender="s"))  # s is a's, not b's
    found = lint(["."], cwd=repo.path).findings
    assert not [f for f in found if f.rule == "duplicate-id"]
    refs = [f.path for f in found if f.rule == "unknown-reference"]
    assert refs == ["b/t.yaml"]
    run = cli(["lint", ".", "--no-color"], cwd=repo.path)
    assert run.code == 1 and "b/t.yaml" in run.out
    (repo.path / "b" / "t.yaml").unlink()
    run = cli(["lint", ".", "--no-color"], cwd=repo.path)
    assert run.code == 0, run.out  # a's findings do not fail: its fail_on is never


def test_a_fallbacks_finding_cites_the_rule_the_fallback_breaks(repo):
    """An RCS card whose SMS fallback lacks the US opt-out is reported on the card with the
    fallback rule's own source (CTIA's opt-out), not the RCS platform page."""
    repo.write(
        "t.yaml",
        """
        kind: sender
        id: juniper-rcs
        channel: rcs
        type: rcs_agent
        address: juniper@rbm.goog
        brand: Juniper Coast
        ---
        kind: sender
        id: juniper-sms
        channel: sms
        type: short_code
        address: "48213"
        brand: Juniper Coast
        markets: [US]
        registrations:
          US: {program: short_code, status: active}
        ---
        kind: consent_scope
        id: offers
        channels: [sms, rcs]
        purposes: [marketing]
        consent: express_written
        ---
        kind: template
        id: card
        channel: rcs
        purpose: marketing
        markets: [US]
        sender: juniper-rcs
        consent_scope: offers
        fallback: card-sms
        body: "Juniper Coast: city breaks from $99 this week. Reply STOP to opt out."
        ---
        kind: template
        id: card-sms
        channel: sms
        purpose: marketing
        markets: [US]
        sender: juniper-sms
        consent_scope: offers
        body: "Juniper Coast: city breaks from $99 this week at juniper.example/breaks"
        """,
    )
    found = lint(["."], cwd=repo.path).findings
    own = [f for f in found if f.document == "card-sms" and f.rule == "us-marketing-opt-out"]
    (via,) = [f for f in found if f.document == "card" and f.rule == "rcs-fallback-clean"]
    assert own and via.citation == own[0].citation
    assert "CTIA" in via.citation.source
