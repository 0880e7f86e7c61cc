"""Baselines and diff-only runs: adopting the linter in a repo that already has findings."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import Repo

PUSH = "kind: template\nid: {id}\nchannel: push\npurpose: otp\nmarkets: [MX]\nbody: '{body}'\n"


def git(repo: Repo, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo.path), *args], check=True, capture_output=True)


def test_a_baseline_turns_a_red_repo_green_and_a_new_finding_turns_it_red(repo, cli):
    repo.write("a.yaml", PUSH.format(id="a", body="{{x}}"))
    repo.write("b.yaml", PUSH.format(id="b", body="{{y}}"))
    assert cli(["lint"], cwd=repo.path).code == 1
    run = cli(["lint", "--write-baseline", "baseline.json"], cwd=repo.path)
    assert run.code == 0 and "wrote 4 finding(s) to baseline.json" in run.err
    data = json.loads((repo.path / "baseline.json").read_text())
    assert data["version"] == 1 and len(data["entries"]) == 4
    run = cli(["lint", "--baseline", "baseline.json"], cwd=repo.path)
    assert run.code == 0, run.out + run.err
    assert "in the baseline" in run.out
    # a new finding in another document is not absorbed by the old entries
    repo.write("c.yaml", PUSH.format(id="c", body="{{x}}"))
    run = cli(["lint", "--baseline", "baseline.json"], cwd=repo.path)
    assert run.code == 1 and "c.yaml:6:8: error placeholder-undeclared" in run.out
    assert "a.yaml" not in run.out.split("\n\n")[0]


def test_moving_lines_keeps_a_finding_baselined(repo, cli):
    repo.write("a.yaml", PUSH.format(id="a", body="{{x}}"))
    cli(["lint", "--write-baseline", "baseline.json"], cwd=repo.path)
    repo.write("a.yaml", "# moved down\n\n\n" + PUSH.format(id="a", body="{{x}}"))
    assert cli(["lint", "--baseline", "baseline.json"], cwd=repo.path).code == 0


def test_the_baseline_matches_from_any_working_folder(repo, cli):
    repo.write("templates/a.yaml", PUSH.format(id="a", body="{{x}}"))
    cli(["lint", "--write-baseline", "baseline.json"], cwd=repo.path)
    run = cli(["lint", ".", "--baseline", "../baseline.json"], cwd=repo.path / "templates")
    assert run.code == 0, run.out + run.err


def test_stale_entries_are_reported_and_update_drops_them(repo, cli):
    repo.write("a.yaml", PUSH.format(id="a", body="{{x}}"))
    repo.write("b.yaml", PUSH.format(id="b", body="{{y}}"))
    cli(["lint", "--write-baseline", "baseline.json"], cwd=repo.path)
    repo.write("b.yaml", PUSH.format(id="b", body="fixed"))
    run = cli(["lint", "--baseline", "baseline.json"], cwd=repo.path)
    assert run.code == 0
    assert "1 baseline entry in baseline.json no longer match" in run.err
    assert "b.yaml: placeholder-undeclared (b)" in run.err
    # linting only a.yaml must not call b.yaml's entry stale
    run = cli(["lint", "a.yaml", "--baseline", "baseline.json"], cwd=repo.path)
    assert "no longer match" not in run.err
    run = cli(["lint", "--baseline", "baseline.json", "--update-baseline"], cwd=repo.path)
    assert "dropped 1 baseline entry" in run.err
    entries = json.loads((repo.path / "baseline.json").read_text())["entries"]
    assert {(e["path"], e["rule"]) for e in entries.values()} == {
        ("a.yaml", "placeholder-undeclared"),
        ("a.yaml", "market-without-pack"),
        ("b.yaml", "market-without-pack"),
    }


def test_bad_baseline_files_are_usage_errors(repo, cli):
    repo.write("a.yaml", PUSH.format(id="a", body="ok"))
    assert cli(["lint", "--baseline", "nope.json"], cwd=repo.path).code == 2
    (repo.path / "bad.json").write_text("{not json")
    run = cli(["lint", "--baseline", "bad.json"], cwd=repo.path)
    assert run.code == 2 and "cannot be read" in run.err
    assert cli(["lint", "--update-baseline"], cwd=repo.path).code == 2


def make_history(repo: Repo) -> None:
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    repo.write("old.yaml", PUSH.format(id="old", body="{{x}}"))
    repo.write(
        "two.yaml",
        PUSH.format(id="one", body="{{x}}") + "---\n" + PUSH.format(id="two", body="{{y}}"),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")


def test_diff_base_reports_only_changed_documents(tmp_path, cli):
    repo = Repo(tmp_path / "r", fake_git=False)
    make_history(repo)
    # change only the second document of two.yaml, and add an untracked file
    text = (repo.path / "two.yaml").read_text().replace("{{y}}", "{{z}}")
    (repo.path / "two.yaml").write_text(text)
    repo.write("new.yaml", PUSH.format(id="new", body="{{w}}"))
    run = cli(["lint", "--diff-base", "HEAD", "--format", "json"], cwd=repo.path)
    report = json.loads(run.out)
    assert {(f["path"], f["document"]) for f in report["findings"] if f["severity"] == "error"} == {
        ("two.yaml", "two"),
        ("new.yaml", "new"),
    }
    assert run.code == 1


def test_diff_base_still_resolves_references_from_the_whole_repo(tmp_path, cli):
    from tests.conftest import SCOPE, SENDER, TEMPLATE

    repo = Repo(tmp_path / "r", fake_git=False)
    make_history(repo)
    repo.write("s.yaml", SENDER)
    repo.write("c.yaml", SCOPE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "senders")
    repo.write("t.yaml", TEMPLATE)
    run = cli(["lint", "--diff-base", "HEAD", "--format", "json"], cwd=repo.path)
    report = json.loads(run.out)
    assert [f for f in report["findings"] if f["rule"] == "unknown-reference"] == []


def test_diff_base_errors(tmp_path, cli):
    repo = Repo(tmp_path / "r", fake_git=False)
    make_history(repo)
    run = cli(["lint", "--diff-base", "no-such-ref"], cwd=repo.path)
    assert run.code == 2 and "'no-such-ref' is not a commit" in run.err


def test_diff_base_with_no_change_says_so(tmp_path, cli):
    repo = Repo(tmp_path / "r", fake_git=False)
    make_history(repo)
    run = cli(["lint", "--diff-base", "HEAD"], cwd=repo.path)
    assert run.code == 0
    assert "nothing to lint: no document changed since HEAD" in run.out
    assert "no YAML files found" not in run.out
