"""The pre-commit hook as a template repo uses it: the real `pre-commit try-repo` against this
checkout, in a temporary git repo (installs the tool into pre-commit's own environment)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCOPE, SENDER, TEMPLATE, Repo

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def precommit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def git_repo(path: Path, env: dict[str, str]) -> Repo:
    repo = Repo(path, fake_git=False)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "t@example.com"],
        ["git", "config", "user.name", "t"],
    ):
        run(cmd, path, env)
    return repo


def test_the_hook_fails_on_a_broken_template_and_passes_on_a_clean_one(tmp_path, precommit_home):
    env = {**os.environ, "PRE_COMMIT_HOME": str(precommit_home)}
    repo = git_repo(tmp_path / "templates", env)
    repo.write("senders/acme.yaml", SENDER)
    repo.write("scopes/promos.yaml", SCOPE)
    repo.write("templates/sale.yaml", TEMPLATE)
    run(["git", "add", "-A"], repo.path, env)
    hook = [
        sys.executable,
        "-m",
        "pre_commit",
        "try-repo",
        str(ROOT),
        "compliance-lint",
        "--all-files",
    ]
    clean = run(hook, repo.path, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    repo.write("templates/sale.yaml", TEMPLATE.replace("sender: acme-us", "sender: acme-uk"))
    run(["git", "add", "-A"], repo.path, env)
    broken = run(hook, repo.path, env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "unknown-reference sender 'acme-uk' is not defined" in broken.stdout


def test_the_rules_test_hook_runs_a_repos_own_pack(tmp_path, precommit_home):
    env = {**os.environ, "PRE_COMMIT_HOME": str(precommit_home)}
    repo = git_repo(tmp_path / "packs", env)
    fixture = Path(__file__).parent / "fixtures" / "pack"
    repo.write("compliance.yaml", "packs: [our-pack]\n")
    for path in fixture.rglob("*.yaml"):
        repo.write(f"our-pack/{path.relative_to(fixture).as_posix()}", path.read_text())
    run(["git", "add", "-A"], repo.path, env)
    done = run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(ROOT),
            "compliance-rules-test",
            "--all-files",
        ],
        repo.path,
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"compliance rules test\.+Passed", done.stdout), done.stdout
