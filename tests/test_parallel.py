"""Linting with several processes (`lint --jobs N`) gives the report one process gives.

A large repo is read by forked copies of the linter, each a consecutive part of the files, and
its documents are then checked the same way (engine._read_files, engine._checked). The parts
are joined in order, so every report must be byte for byte the one-process report. The
thresholds that keep small repos in one process are set to nothing here, so that the small
cases below (every example repo, the cases that read another document) go through the workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import compliance.engine as engine
from compliance.engine import lint
from compliance.errors import UsageError
from compliance.reports import get
from tests.test_scale import CASES, EXAMPLES, ROOT, generate_repo, same_package_env

FORMATS = ("text", "json", "sarif", "github", "junit")
pytestmark = pytest.mark.skipif(not engine._can_fork(), reason="workers are forked (Linux)")


def rendered(result: engine.LintResult) -> dict[str, str]:
    return {fmt: get(fmt).render(result, include_suppressed=True, color=False) for fmt in FORMATS}


@pytest.fixture
def every_repo_in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers for any repo, however small, with files released as a large repo's are."""
    monkeypatch.setattr(engine, "PARALLEL_ABOVE_DOCUMENTS", 0)
    monkeypatch.setattr(engine, "PARALLEL_MIN_PER_JOB", 1)
    monkeypatch.setattr(engine, "RELEASE_ABOVE_FILES", -1)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_examples_give_the_same_reports_from_any_number_of_processes(
    every_repo_in_workers: None, name: str
) -> None:
    one = rendered(lint([f"examples/{name}"], cwd=ROOT, jobs=1))
    assert one["json"].count('"rule"') > 0
    for jobs in (2, 3, 7):
        assert rendered(lint([f"examples/{name}"], cwd=ROOT, jobs=jobs)) == one, jobs


def test_documents_that_read_others_give_the_same_reports_from_workers(
    every_repo_in_workers: None, repo
) -> None:
    # duplicate ids in two parts, a fallback checked in another part, several documents per
    # file, a broken file: each worker must see the whole repo as context
    for rel, text in CASES.items():
        repo.write(rel, text)
    for n in range(6):
        repo.write(
            f"templates/dup-{n}.yaml",
            f"kind: template\nid: twice\nchannel: sms\npurpose: marketing\nbody: 'n{n}'\n",
        )
    one = rendered(lint(["."], cwd=repo.path, jobs=1))
    assert "duplicate-id" in one["json"]
    for jobs in (2, 4):
        assert rendered(lint(["."], cwd=repo.path, jobs=jobs)) == one
    some = rendered(lint(["templates"], cwd=repo.path, jobs=1))
    assert rendered(lint(["templates"], cwd=repo.path, jobs=3)) == some


def test_the_cli_report_on_a_large_repo_is_the_same_with_jobs(tmp_path: Path) -> None:
    """As users run it: above the thresholds, with the default thresholds, `--jobs 1` and the
    default (the cores available) print the same bytes, in every format."""
    generate_repo(tmp_path, 2_500)
    outputs = {}
    for jobs in ("1", "2", "3"):
        for fmt in ("json", "text"):
            run = subprocess.run(
                [sys.executable, "-m", "compliance", "lint", ".", "--format", fmt, "-j", jobs],
                cwd=tmp_path,
                env={**same_package_env(), "NO_COLOR": "1"},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert run.returncode in (0, 1), run.stderr[-2000:]
            outputs[jobs, fmt] = (run.returncode, run.stdout, run.stderr)
    assert outputs["1", "json"][1].count('"rule"') > 1_000
    for fmt in ("json", "text"):
        assert outputs["2", fmt] == outputs["1", fmt]
        assert outputs["3", fmt] == outputs["1", fmt]


def in_workers(happen, monkeypatch: pytest.MonkeyPatch, repo) -> None:
    """Four templates, and `happen()` when a worker (not this process) checks one."""
    for n in range(4):
        repo.write(f"templates/t{n}.yaml", f"kind: template\nid: t{n}\nbody: hi\n")
    parent = os.getpid()
    real = engine._Runner.document_findings

    def checked(self, doc):
        if os.getpid() != parent:
            happen()
        return real(self, doc)

    monkeypatch.setattr(engine._Runner, "document_findings", checked)


def test_a_worker_that_fails_fails_the_run_with_its_error(
    every_repo_in_workers: None, monkeypatch: pytest.MonkeyPatch, repo
) -> None:
    def broken() -> None:
        raise ValueError("a check broke in a worker")

    in_workers(broken, monkeypatch, repo)
    with pytest.raises(RuntimeError, match="a check broke in a worker"):
        lint(["."], cwd=repo.path, jobs=2)


def test_a_worker_that_dies_fails_the_run_and_leaves_no_process(
    every_repo_in_workers: None, monkeypatch: pytest.MonkeyPatch, repo
) -> None:
    in_workers(lambda: os._exit(9), monkeypatch, repo)
    forked: list[int] = []
    real_fork = engine._fork

    def fork(work):
        pid, fd = real_fork(work)
        forked.append(pid)
        return pid, fd

    monkeypatch.setattr(engine, "_fork", fork)
    with pytest.raises(RuntimeError, match="ended without its result"):
        lint(["."], cwd=repo.path, jobs=3)
    assert len(forked) == 2
    for pid in forked:  # every worker was waited for: none is left as a zombie
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_jobs_must_be_a_whole_number_of_processes(jobs, repo) -> None:
    with pytest.raises(UsageError, match="jobs must be a whole number"):
        lint(["."], cwd=repo.path, jobs=jobs)


def test_the_cli_refuses_a_jobs_count_below_one(cli, repo) -> None:
    run = cli(["lint", ".", "--jobs", "0"], cwd=repo.path)
    assert run.code == 2
    assert "--jobs" in run.err and "0" in run.err
