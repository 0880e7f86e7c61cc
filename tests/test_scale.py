"""Linting a large repo in bounded memory.

Documents stay in the repo index for the whole run, as context for the others. Above
engine.RELEASE_ABOVE_FILES files each one is released once indexed (its node tree, and a
template's model, are dropped and built again when needed), so memory grows by a compact record
per document. Before that, 100,000 generated templates took ~2.7 GiB; this file holds them to
PEAK_RSS_BOUND_MIB, and checks that releasing documents changes no finding: on every example
repo, on a repo of the cases that read another document's place or model, and on the 100,000
templates themselves.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import compliance
import compliance.engine as engine
from compliance.engine import lint
from compliance.reports import get

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir())
FORMATS = ("text", "json", "sarif", "github", "junit")

TEMPLATES = 100_000
SENDERS, SCOPES, SEED = 50, 20, 2026  # bench/lint_speed.py's defaults
# measured on Linux, CPython 3.11: ~600 MiB, of which ~220 MiB is the JSON report of the ~47,000
# findings being built; with every document kept whole ~2,250 MiB (~2,700 MiB before the change)
PEAK_RSS_BOUND_MIB = 700
SAMPLE = 2_000  # templates compared one by one with a lint of documents kept whole
# Runs its arguments as a command and prints that child's peak RSS (getrusage: KiB on Linux,
# bytes on macOS). Not read from the test's own child: on Linux a child's ru_maxrss counts the
# memory of the process it was forked from, and the test session may be large by then.
PEAK_OF_CHILD = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def same_package_env() -> dict[str, str]:
    """The environment for a child that must run this very compliance package, wherever the
    environment's install of it points."""
    here = str(Path(compliance.__file__).resolve().parents[1])
    paths = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def generate_repo(root: Path, templates: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        lint_speed = importlib.import_module("lint_speed")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    lint_speed.generate_repo(root, templates, SENDERS, SCOPES, SEED)


def lint_in_modes(
    monkeypatch: pytest.MonkeyPatch, paths: list[str], cwd: Path
) -> tuple[engine.LintResult, engine.LintResult]:
    """(documents kept whole, documents released once indexed)."""
    monkeypatch.setattr(engine, "RELEASE_ABOVE_FILES", 1 << 62)
    whole = lint(paths, cwd=cwd)
    monkeypatch.setattr(engine, "RELEASE_ABOVE_FILES", -1)
    released = lint(paths, cwd=cwd)
    return whole, released


def rendered(result: engine.LintResult) -> dict[str, str]:
    return {fmt: get(fmt).render(result, include_suppressed=True, color=False) for fmt in FORMATS}


def finding_keys(findings: list[dict]) -> list[tuple]:
    return [tuple(f.get(k) for k in sorted(f)) for f in findings]


@pytest.mark.skipif(sys.platform == "win32", reason="peak RSS from getrusage (POSIX)")
def test_100000_templates_are_linted_in_bounded_memory_with_the_same_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # not tmp_path: pytest keeps the last runs' folders, and this one holds 100,000 files
    tmp = Path(tempfile.mkdtemp(prefix="compliance-scale-"))
    try:
        big = tmp / "big"
        generate_repo(big, TEMPLATES)
        report = tmp / "report.json"
        # the release mechanism on its own: the cache adds about 1 KB a document (what each
        # read and what it gave), measured by bench/lint_speed.py
        lint_cmd = [
            sys.executable, "-m", "compliance", "lint", ".", "--format", "json", "--no-cache",
        ]  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-c", PEAK_OF_CHILD, *lint_cmd, "-o", str(report)],
            cwd=big,
            env=same_package_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        peak_mib = int(run.stdout) / (1 << 20 if sys.platform == "darwin" else 1 << 10)
        print(f"compliance lint, {TEMPLATES:,} templates: peak RSS {peak_mib:.0f} MiB")
        data = json.loads(report.read_text("utf-8"))
        summary = data["summary"]
        documents = TEMPLATES + SENDERS + SCOPES  # one document per file
        assert (summary["documents"], summary["files"]) == (documents, documents)
        counted = summary["errors"] + summary["warnings"] + summary["infos"]
        assert len(data["findings"]) == counted > 0
        assert peak_mib < PEAK_RSS_BOUND_MIB, (
            f"peak RSS {peak_mib:.0f} MiB for {documents:,} documents (bound "
            f"{PEAK_RSS_BOUND_MIB} MiB): are documents still released once indexed?"
        )

        # The generator is deterministic and each template depends only on those before it,
        # so the first SAMPLE templates of a SAMPLE-template repo are those of the big one, with
        # the same sender, scope and fallback: they must get the same findings from a lint that
        # keeps every document whole.
        small = tmp / "small"
        generate_repo(small, SAMPLE)
        sample = sorted(p.relative_to(small).as_posix() for p in small.glob("templates/*/*.yaml"))
        assert len(sample) == SAMPLE
        for rel in sample[:: SAMPLE // 50]:
            assert (small / rel).read_bytes() == (big / rel).read_bytes(), (
                f"bench/lint_speed.py no longer generates the same first templates ({rel}): "
                "compare with another sample"
            )
        monkeypatch.setattr(engine, "RELEASE_ABOVE_FILES", 1 << 62)
        whole = json.loads(get("json").render(lint(["."], cwd=small)))
        expected = [f for f in whole["findings"] if f["path"].startswith("templates/")]
        chosen = set(sample)
        got = [f for f in data["findings"] if f["path"] in chosen]
        assert expected, "the sample templates have no findings to compare"
        assert finding_keys(got) == finding_keys(expected)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("name", EXAMPLES)
def test_released_documents_give_the_same_reports_on_the_examples(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    whole, released = lint_in_modes(monkeypatch, [f"examples/{name}"], ROOT)
    assert rendered(released) == rendered(whole)


# Cases that read another document's place or model, or compose a file again: duplicate ids
# (the message names the other's line), fallbacks (their findings are placed in their own
# file, here the same one), several documents per file with an empty one and a broken one,
# anchors and merge keys, hidden characters, suppressions, invalid documents, a YAML error.
CASES = {
    "senders/us.yaml": """
        kind: sender
        id: acme-us
        channel: sms
        type: long_code
        address: "+14155550123"
        markets: [US]
        purposes: [marketing, transactional]
        """,
    "senders/dup.yaml": """
        # the same id as senders/us.yaml, on another line
        kind: sender

        id: acme-us
        channel: sms
        type: short_code
        address: "55123"
        markets: [US]
        purposes: [otp]
        """,
    "scopes/promos.yaml": """
        kind: consent_scope
        id: promos
        channels: [sms, whatsapp]
        purposes: [marketing]
        consent: express_written
        """,
    "senders/wa.yaml": """
        kind: sender
        id: acme-wa
        channel: whatsapp
        type: whatsapp
        address: "+14155550999"
        markets: [US]
        purposes: [marketing, transactional]
        """,
    "templates/many.yaml": """
        other: tool
        ---
        kind: template
        id: sale-sms
        channel: sms
        purpose: marketing
        markets: [US]
        sender: acme-us
        consent_scope: promos
        body: "Acme: sale today, code {{code}} for {{name}} \u200bnow. Reply STOP to opt out."
        variables:
          code: &v {example: SPRING, max_length: 8}
          name: {<<: *v, example: Sam}
        suppress:
          - {rule: hidden-characters, reason: gone, expires: 2020-01-01}
          - {rule: no-such-rule, reason: typo}
        ---
        ---
        kind: template
        id: sale-wa
        channel: whatsapp
        purpose: marketing
        markets: [US]
        sender: acme-wa
        consent_scope: promos
        fallback: sale-sms
        body: "Hi {{1}}, sale today at Acme."
        variables:
          1: {example: Sam, max_length: 20}
        ---
        x-base: &base {kind: template, purpose: marketing}
        <<: *base
        id: sale-sms
        channel: sms
        markets: [US, XX]
        body: 'no sender, and "quotes"'
        ---
        kind: template
        id: [broken
        """,
    "templates/self.yaml": """
        kind: template
        id: loop
        channel: whatsapp
        purpose: transactional
        markets: [US]
        sender: acme-wa
        fallback: loop
        body: "Your order {{1}} shipped."
        variables:
          1: {example: A-1, max_length: 10}
        """,
    "templates/invalid.yaml": """
        kind: template
        id: Bad Id
        channel: carrier-pigeon
        markets: US
        body: |
          Hello
          there
        unknown: field
        """,
    "templates/typo.yaml": "kind: templates\nid: typo\n",
    "templates/bad.yaml": "kind: template\nid: x\nbody: 'unterminated\n",
    "ci.yaml": "on: push\njobs: {}\n",
}


def test_released_documents_give_the_same_reports_on_cross_document_cases(
    monkeypatch: pytest.MonkeyPatch, repo
) -> None:
    for rel, text in CASES.items():
        repo.write(rel, text)
    whole, released = lint_in_modes(monkeypatch, ["."], repo.path)
    rules = {f.rule for f in whole.findings}
    expected = {
        "duplicate-id",
        "yaml-syntax",
        "schema",
        "suppression-expired",
        "whatsapp-fallback-clean",
    }
    assert expected <= rules, rules
    assert rendered(released) == rendered(whole)
    # linting some files only: the others are context, released as well
    whole, released = lint_in_modes(monkeypatch, ["templates/many.yaml"], repo.path)
    assert whole.findings and rendered(released) == rendered(whole)


def test_a_released_document_builds_again_what_it_dropped(
    monkeypatch: pytest.MonkeyPatch, repo
) -> None:
    for rel, text in CASES.items():
        repo.write(rel, text)
    whole, released = lint_in_modes(monkeypatch, ["."], repo.path)
    pairs = list(zip(whole.index.documents, released.index.documents, strict=True))
    assert pairs
    for kept, dropped in pairs:
        assert not kept.yaml.released and dropped.yaml.released
        assert dropped.model == kept.model and dropped.valid == kept.valid
        assert dropped.span() == kept.span()
        for path in (("id",), ("body",), ("variables", "code"), ("nowhere",)):
            assert dropped.span(path) == kept.span(path)
            assert dropped.span(path, key=True) == kept.span(path, key=True)
        assert dropped.text_span(("body",), 0, 3) == kept.text_span(("body",), 0, 3)
        assert dropped.yaml.released  # asking did not keep the tree
        if dropped.kind == "template" and dropped.valid:
            assert dropped.model is not dropped.model  # validated again, not kept
