"""The labelled corpus (tests/corpus/, read its README): the linter raises every error a label
expects and no other, and reports every expected warning. The same computation as
`python bench/precision.py --list`, which prints the table; a failure lists every document
where linter and label differ, by false errors and missed violations."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _precision():
    name = "bench_precision"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "precision.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


precision = _precision()
REPOS = precision.repos()


def test_the_corpus_has_its_eleven_repos():
    assert len(REPOS) == 11, [r.name for r in REPOS]


@pytest.mark.parametrize("repo", REPOS, ids=[r.name for r in REPOS])
def test_no_false_errors_and_no_missed_violations(repo):
    outcomes = precision.evaluate_repo(repo)
    assert outcomes, f"{repo}: no labelled documents"
    problems = precision.differences(outcomes)
    assert not problems, (
        f"{len(problems)} difference(s) between linter and labels in {repo.name} "
        "(fix the rule or check kind; relabel only with a cited reason, see "
        "tests/corpus/README.md):\n" + "\n".join(problems)
    )


def test_every_label_names_known_rules():
    from compliance.packs import load_packs

    known = set(load_packs().rules)
    unknown = []
    for repo in REPOS:
        for path in sorted(repo.rglob("*.yaml")):
            if path.name == "compliance.yaml" or "pack" in path.relative_to(repo).parts:
                continue
            label = precision.read_label(path)
            unknown += [f"{label.path}: {r}" for r in sorted((label.expect | label.warn) - known)]
    assert not unknown, "labels name rules that do not exist:\n" + "\n".join(unknown)


def test_every_relabel_gives_its_reason():
    bare = []
    for path in sorted((ROOT / "tests" / "corpus").rglob("*.yaml")):
        for line in path.read_text("utf-8").splitlines():
            if not line.startswith("#"):
                break
            match = re.match(r"#\s*corpus-why:\s*relabelled:\s*(.*)", line)
            if match and len(match.group(1).strip()) < 20:
                bare.append(path.relative_to(ROOT).as_posix())
    assert not bare, "a relabel without its reason:\n" + "\n".join(bare)


def test_every_unmapped_violation_is_explained_in_the_readme():
    readme = (ROOT / "tests" / "corpus" / "README.md").read_text("utf-8")
    assert "## Left unmapped" in readme
    section = readme.split("## Left unmapped", 1)[1]
    missing = [
        o.label.path
        for repo in REPOS
        for o in (
            precision.Outcome(precision.read_label(p), set(), set())
            for p in sorted(repo.rglob("*.yaml"))
            if p.name != "compliance.yaml" and "pack" not in p.relative_to(repo).parts
        )
        if o.label.unmapped and Path(o.label.path).stem not in section
    ]
    assert not missing, "unmapped labels not explained under 'Left unmapped':\n" + "\n".join(
        missing
    )
