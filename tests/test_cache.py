"""The lint cache (.compliance_cache/) never changes a report.

Random sequences of the edits people make to a template repo (bodies, references, senders'
fields, files deleted, restored, renamed, duplicated, broken, touched, rewritten with the same
bytes, edited twice within one clock tick, and the date moving past a suppression's expiry),
each followed by a lint with the cache and one without: the reports must be equal, whole repo
and the few files pre-commit passes. Then the cache's own hazards: deleted, corrupt, another
user's, two runs at once, a folder it cannot write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from compliance import lintcache
from compliance.engine import lint
from compliance.packs import load_packs
from compliance.reports import get
from tests.readonly import read_only
from tests.test_scale import same_package_env

ROOT = Path(__file__).resolve().parents[1]
ACME = ROOT / "examples" / "acme"
US = ROOT / "examples" / "us"

BODIES = [
    "Acme: 20% off everything this weekend at acme.example/sale. Reply STOP to opt out.",
    "Flash sale! 40% off rain shells until midnight.",
    "Acme: your order {{order_id}} has shipped.",
    "Acme: your code is {{code}}. Do not share it. Reply STOP to opt out.",
    "Win a FREE iPhone!!! Click bit.ly/xyz now",
    "Trailhead: 25% off tents through Sunday. Shop trailhead.example/sale. Reply STOP to opt out.",
]
TYPES = ["long_code", "short_code", "toll_free", "alphanumeric", "whatsapp", "email_domain"]
MARKETS = ["[US]", "[GB]", "[US, CA]", "[IN]", "[DE, FR]", "[]", "[US, GB, AU]"]
NO_CACHE = shutil.ignore_patterns(".compliance_cache")  # a run in examples/ leaves one there
DAYS = [dt.date(2025, 6, 29), dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2026, 12, 2)]


@pytest.fixture(autouse=True)
def own_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own user cache folder (the cache key lives there)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def packs():
    return load_packs([])


def copy_repo(source: Path, tmp_path: Path, name: str = "repo") -> Path:
    """A copy of an example repo, its own root (.git), without a cache a run left in it."""
    repo = tmp_path / name
    shutil.copytree(source, repo, ignore=NO_CACHE)
    (repo / ".git").mkdir()
    return repo


def reports(result) -> dict[str, str]:
    return {
        fmt: get(fmt).render(result, include_suppressed=True, color=False)
        for fmt in ("json", "text")
    }


def both(paths: list[str], repo: Path, packs, day: dt.date) -> tuple[dict, dict]:
    # the cached run reads the packs from their files (or the user cache folder's copy), as
    # the cache is only used then; the plain one is given them, read once for the module
    cached = reports(lint(paths, cwd=repo, today=day, cache=True))
    plain = reports(lint(paths, cwd=repo, packs=packs, today=day, cache=False))
    return cached, plain


class Editor:
    """Edits a copy of a template repo the way people do, at random."""

    def __init__(self, repo: Path, rng: random.Random) -> None:
        self.repo = repo
        self.rng = rng
        self.original = {p.relative_to(repo).as_posix(): p.read_bytes() for p in self.files()}
        self.deleted: list[str] = []
        self.day = DAYS[-1]
        self.count = 0

    def files(self) -> list[Path]:
        return sorted(p for p in self.repo.rglob("*.yaml") if ".compliance_cache" not in p.parts)

    def of_kind(self, kind: str) -> list[Path]:
        return [p for p in self.files() if f"kind: {kind}\n" in p.read_text("utf-8")]

    def ids(self, kind: str) -> list[str]:
        out = []
        for p in self.of_kind(kind):
            for line in p.read_text("utf-8").splitlines():
                if line.startswith("id: "):
                    out.append(line[4:].strip())
        return out

    def set_line(self, path: Path, key: str, value: str) -> None:
        lines = path.read_text("utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"{key}:"):
                lines[i] = f"{key}: {value}"
                break
        else:
            lines.append(f"{key}: {value}")
        path.write_text("\n".join(lines) + "\n", "utf-8")

    def edit(self) -> str:
        rng = self.rng
        self.count += 1
        templates, senders = self.of_kind("template"), self.of_kind("sender")
        action = rng.choice(
            [
                "body", "body", "sender", "scope", "sender_field", "delete", "restore",
                "duplicate", "break", "touch", "rename", "markets", "day", "rewrite", "tick",
                "new_sender", "inherit", "inherit",
            ]
        )  # fmt: skip
        if action == "body" and templates:
            self.set_line(rng.choice(templates), "body", json.dumps(rng.choice(BODIES)))
        elif action == "sender" and templates:
            target = rng.choice(self.ids("sender") + ["no-such-sender"])
            self.set_line(rng.choice(templates), "sender", target)
        elif action == "scope" and templates:
            target = rng.choice(self.ids("consent_scope") + ["no-such-scope"])
            self.set_line(rng.choice(templates), "consent_scope", target)
        elif action == "sender_field" and senders:
            field, value = rng.choice(
                [("type", rng.choice(TYPES)), ("brand", rng.choice(["Acme", "Globex", '""'])),
                 ("markets", rng.choice(MARKETS))]
            )  # fmt: skip
            self.set_line(rng.choice(senders), field, value)
        elif action == "delete" and len(self.files()) > 3:
            victim = rng.choice(self.files())
            self.deleted.append(victim.relative_to(self.repo).as_posix())
            victim.unlink()
        elif action == "restore" and self.deleted:
            rel = self.deleted.pop(rng.randrange(len(self.deleted)))
            (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / rel).write_bytes(self.original[rel])
        elif action == "duplicate" and templates:
            source = rng.choice(templates)
            shutil.copy(source, source.with_name(f"copy-{self.count}.yaml"))
        elif action == "break":
            (self.repo / "templates" / f"broken-{self.count}.yaml").write_text(
                "kind: template\nid: broken\nbody: 'unterminated\n", "utf-8"
            )
        elif action == "touch":
            victim = rng.choice(self.files())
            os.utime(victim)
        elif action == "rename" and templates:
            source = rng.choice(templates)
            source.rename(source.with_name(f"renamed-{self.count}.yaml"))
        elif action == "markets" and templates:
            self.set_line(rng.choice(templates), "markets", rng.choice(MARKETS))
        elif action == "day":
            self.day = rng.choice(DAYS)
        elif action == "rewrite":
            victim = rng.choice(self.files())
            victim.write_bytes(victim.read_bytes())
        elif action == "tick" and templates:
            # two edits of the same size within one tick of the file system's clock: the size
            # and times may match what the cache saw, the bytes do not
            victim = rng.choice(templates)
            text = victim.read_text("utf-8")
            for old, new in (("e", "a"), ("a", "o"), ("o", "e")):
                if old in text:
                    victim.write_text(text.replace(old, new, 1), "utf-8")
                    break
        elif action == "inherit":
            # a sender or scope that declares no markets is checked for its templates'
            victims = senders + self.of_kind("consent_scope")
            if victims:
                victim = rng.choice(victims)
                lines = victim.read_text("utf-8").splitlines()
                kept = [line for line in lines if not line.startswith("markets:")]
                victim.write_text("\n".join(kept) + "\n", "utf-8")
        elif action == "new_sender" and senders:
            text = rng.choice(senders).read_text("utf-8")
            fresh = self.repo / "senders" / f"new-{self.count}.yaml"
            fresh.write_text(text.replace("\nid: ", f"\nid: new{self.count}-", 1), "utf-8")
        return action

    def some_paths(self) -> list[str]:
        files = self.files()
        chosen = self.rng.sample(files, k=min(len(files), self.rng.randint(1, 3)))
        return [p.relative_to(self.repo).as_posix() for p in chosen]


@pytest.mark.parametrize("seed", range(12))
def test_random_edits_give_the_same_reports_with_and_without_the_cache(
    seed: int, tmp_path: Path, packs
) -> None:
    repo = copy_repo(ACME if seed % 2 == 0 else US, tmp_path)
    rng = random.Random(seed)
    editor = Editor(repo, rng)
    cached, plain = both(["."], repo, packs, editor.day)
    assert cached == plain
    assert (repo / ".compliance_cache").is_dir()
    done = []
    for _ in range(12):
        done.append(editor.edit())
        for paths in (["."], editor.some_paths()):
            cached, plain = both(paths, repo, packs, editor.day)
            assert cached == plain, f"edits {done}, paths {paths}, day {editor.day}"


def test_a_changed_sender_is_seen_by_every_template_that_names_it(tmp_path: Path, packs) -> None:
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    first, _ = both(["."], repo, packs, day)
    sender = repo / "senders" / "trailhead-10dlc.yaml"
    sender.write_text(sender.read_text("utf-8").replace("type: long_code", "type: alphanumeric"))
    cached, plain = both(["."], repo, packs, day)
    assert cached == plain != first  # the templates that name it got other findings


def test_a_sender_without_markets_is_checked_again_when_its_templates_change(
    tmp_path: Path, packs
) -> None:
    """Its markets are its templates': its findings read them (RepoIndex.users_of)."""
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    sender = repo / "senders" / "trailhead-10dlc.yaml"
    sender.write_text(sender.read_text("utf-8").replace("markets: [US]\n", ""), "utf-8")
    first, _ = both(["senders"], repo, packs, day)
    for template in (repo / "templates").rglob("*.yaml"):
        text = template.read_text("utf-8")
        if "sender: trailhead-10dlc\n" in text:
            template.write_text(text.replace("markets: [US]", "markets: [GB]"), "utf-8")
    cached, plain = both(["senders"], repo, packs, day)
    assert cached == plain != first


def test_a_corrupt_or_deleted_cache_is_rebuilt(tmp_path: Path, packs) -> None:
    repo = copy_repo(ACME, tmp_path)
    day = DAYS[-1]
    expected, _ = both(["."], repo, packs, day)
    (db,) = (repo / ".compliance_cache").glob("lint-*.sqlite3")
    for garbage in (b"", b"not a database at all" * 100, db.read_bytes()[:5000]):
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        db.write_bytes(garbage)
        assert both(["."], repo, packs, day)[0] == expected
    # rows of the wrong shape: read as a miss, computed again
    connection = sqlite3.connect(db)
    connection.execute("UPDATE results SET findings = 'nonsense', reads = '[[1]]'")
    connection.execute("UPDATE files SET findings = '{\"a\": 1}'")
    connection.commit()
    connection.close()
    assert both(["."], repo, packs, day)[0] == expected
    shutil.rmtree(repo / ".compliance_cache")
    assert both(["."], repo, packs, day)[0] == expected


def test_a_cache_that_is_not_this_users_is_emptied_before_use(
    tmp_path: Path, packs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache file committed to the repo, or restored from another machine, whose findings
    were removed by hand, must not hide them: it was not made with this user's key."""
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    expected, _ = both(["."], repo, packs, day)
    assert '"rule"' in expected["json"]
    (db,) = (repo / ".compliance_cache").glob("lint-*.sqlite3")
    connection = sqlite3.connect(db)
    connection.execute("UPDATE results SET findings = '[]'")
    connection.execute("UPDATE files SET findings = '[]'")
    connection.commit()
    connection.close()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-user"))
    assert both(["."], repo, packs, day)[0] == expected


def test_lint_without_the_cache_neither_reads_nor_writes_it(tmp_path: Path, packs) -> None:
    repo = copy_repo(ACME, tmp_path)
    lint(["."], cwd=repo, packs=packs, cache=False)
    assert not (repo / ".compliance_cache").exists()


def test_the_cache_folder_tells_git_and_backups_to_leave_it(tmp_path: Path, packs) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ACME, repo, ignore=NO_CACHE)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    lint(["."], cwd=repo, cache=True)
    folder = repo / ".compliance_cache"
    assert (folder / ".gitignore").read_text("utf-8").splitlines()[-1] == "*"
    assert (
        (folder / "CACHEDIR.TAG")
        .read_text("utf-8")
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".compliance_cache" not in status


def test_a_repo_the_cache_cannot_be_written_in_is_linted_without_it(tmp_path: Path, packs) -> None:
    repo = copy_repo(ACME, tmp_path)
    expected = reports(lint(["."], cwd=repo, packs=packs, cache=False))
    with read_only([repo]):
        result = lint(["."], cwd=repo, cache=True)
    assert reports(result) == expected
    assert result.cache_note and "cache off" in result.cache_note


def test_a_user_cache_folder_that_cannot_hold_the_key_turns_the_cache_off(
    tmp_path: Path, packs, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the user cache folder should be", "utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    repo = copy_repo(ACME, tmp_path)
    result = lint(["."], cwd=repo, cache=True)
    assert result.cache_note and "cache off" in result.cache_note
    assert reports(result) == reports(lint(["."], cwd=repo, packs=packs, cache=False))


def test_runs_at_once_share_the_cache(tmp_path: Path) -> None:
    """Four lints started together on one repo, each editing its own template first: every
    report is the one a run without the cache prints, and so is the next run's."""
    repo = copy_repo(US, tmp_path)
    env = {**same_package_env(), "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    command = [sys.executable, "-m", "compliance", "lint", ".", "--format", "json"]
    procs = [
        subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    plain = subprocess.run(
        [*command, "--no-cache"], cwd=repo, env=env, capture_output=True, text=True
    ).stdout
    assert outputs == [plain] * 4
    again = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    assert again.stdout == plain
    assert "note:" not in again.stderr


def test_the_cli_says_why_the_cache_is_off(cli, tmp_path: Path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x", "utf-8")
    repo = copy_repo(ACME, tmp_path)
    run = cli(["lint", "."], cwd=repo, env={"XDG_CACHE_HOME": str(blocked)})
    assert "note: cache off" in run.err
    assert run.code == 1
    quiet = cli(["lint", ".", "--no-cache"], cwd=repo, env={"XDG_CACHE_HOME": str(blocked)})
    assert "cache" not in quiet.err


def test_the_cache_key_follows_the_configuration(tmp_path: Path, packs) -> None:
    """Another config, other markets or another working folder: another cache file."""
    repo = copy_repo(ACME, tmp_path)
    folder = repo / ".compliance_cache"
    lint(["."], cwd=repo, cache=True)
    lint(["."], cwd=repo, cache=True, markets=["US"])
    lint(["."], cwd=repo / "templates", cache=True)
    config = repo / "compliance.yaml"
    config.write_text(config.read_text("utf-8") + "\n# a comment\n", "utf-8")
    lint(["."], cwd=repo, cache=True)
    assert len(list(folder.glob("lint-*.sqlite3"))) == lintcache.KEEP


EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_reads_the_same_from_the_cache_as_without(cli, tmp_path: Path, name):
    """As users run it: the first run fills the caches (the repo's and the rule packs' copy in
    the user cache folder), the second reads them; both print what --no-cache prints."""
    repo = copy_repo(ROOT / "examples" / name, tmp_path, name)
    plain = cli(["lint", ".", "--format", "json", "--no-cache"], cwd=repo)
    first = cli(["lint", ".", "--format", "json"], cwd=repo)
    second = cli(["lint", ".", "--format", "json"], cwd=repo)
    assert first.out == second.out == plain.out
    assert first.code == second.code == plain.code
    assert list((tmp_path / "user-cache" / "compliance").glob("packs-*.pickle"))


def test_a_team_pack_edited_is_read_again(cli, tmp_path: Path) -> None:
    repo = copy_repo(ROOT / "examples" / "india", tmp_path, "india")
    before = cli(["lint", ".", "--format", "json"], cwd=repo)
    market = repo / "pack" / "markets" / "in.yaml"
    market.write_text(
        market.read_text("utf-8").replace("tiffinly.example, tfly.example", "tfly.example"),
        "utf-8",
    )
    after = cli(["lint", ".", "--format", "json"], cwd=repo)
    plain = cli(["lint", ".", "--format", "json", "--no-cache"], cwd=repo)
    assert after.out == plain.out != before.out


def test_a_copy_of_the_packs_not_signed_with_the_users_key_is_not_read(cli, tmp_path: Path) -> None:
    repo = copy_repo(US, tmp_path, "us")
    plain = cli(["lint", ".", "--format", "json", "--no-cache"], cwd=repo)
    cli(["lint", ".", "--format", "json"], cwd=repo)
    (copy,) = (tmp_path / "user-cache" / "compliance").glob("packs-*.pickle")
    import pickle

    from compliance.packs import Packs

    # a copy someone else made (another key), of packs with no rules at all
    forged = pickle.dumps(Packs({}, {}), protocol=5)
    copy.write_bytes(bytes(32) + forged)
    shutil.rmtree(repo / ".compliance_cache")
    assert cli(["lint", ".", "--format", "json"], cwd=repo).out == plain.out
    copy.write_bytes(b"short")
    shutil.rmtree(repo / ".compliance_cache")
    assert cli(["lint", ".", "--format", "json"], cwd=repo).out == plain.out


def test_rows_changed_in_a_cache_that_carries_the_users_mark_are_not_read(
    tmp_path: Path, packs
) -> None:
    """The mark is on every row, not only the file: a cache this user made, committed by
    mistake and then edited (findings blanked), hides nothing."""
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    expected, _ = both(["."], repo, packs, day)
    (db,) = (repo / ".compliance_cache").glob("lint-*.sqlite3")
    connection = sqlite3.connect(db)
    connection.execute("UPDATE results SET findings = ''")
    connection.execute("UPDATE files SET findings = '[]'")
    connection.commit()
    connection.close()
    assert both(["."], repo, packs, day)[0] == expected
    for paths in (["templates"], ["templates/broken/no-brand-no-stop.yaml"]):
        cached, plain = both(paths, repo, packs, day)
        assert cached == plain


def test_a_cache_folder_or_file_that_is_a_link_is_never_written_through(
    tmp_path: Path, packs
) -> None:
    """A clone can carry a .compliance_cache that links elsewhere, or links inside it: the
    linked-to folder and files are left as they were."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine", "utf-8")
    repo = copy_repo(US, tmp_path)
    (repo / ".compliance_cache").symlink_to(victim, target_is_directory=True)
    result = lint(["."], cwd=repo, cache=True)
    assert result.cache_note and "symbolic link" in result.cache_note
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert reports(result) == reports(lint(["."], cwd=repo, packs=packs, cache=False))
    # links inside a real cache folder, named as its files: removed, never followed
    (repo / ".compliance_cache").unlink()
    lint(["."], cwd=repo, cache=True)
    folder = repo / ".compliance_cache"
    (db,) = folder.glob("lint-*.sqlite3")
    database = victim / "app.db"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    connection.execute("INSERT INTO meta VALUES ('important', 'data')")
    connection.commit()
    connection.close()
    before = database.read_bytes()
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.unlink()
    db.symlink_to(database)
    (folder / ".gitignore").unlink()
    (folder / ".gitignore").symlink_to(victim / "keep.txt")
    assert reports(lint(["."], cwd=repo, cache=True)) == reports(
        lint(["."], cwd=repo, packs=packs, cache=False)
    )
    assert database.read_bytes() == before
    assert (victim / "keep.txt").read_text("utf-8") == "mine"
    assert not db.is_symlink() and not (folder / ".gitignore").is_symlink()


def test_a_config_built_in_memory_is_linted_without_the_cache(tmp_path: Path) -> None:
    from compliance.config import load_config

    repo = copy_repo(ACME, tmp_path)
    config = load_config(None, repo, repo)
    result = lint(["."], cwd=repo, config=config, cache=True)
    assert result.cache_note and "built in memory" in result.cache_note
    assert not (repo / ".compliance_cache").exists()


def test_a_cache_key_others_may_read_or_write_turns_the_cache_off(tmp_path: Path, packs) -> None:
    repo = copy_repo(ACME, tmp_path)
    lint(["."], cwd=repo, cache=True)
    key = tmp_path / "user-cache" / "compliance" / "lint-cache.key"
    key.chmod(0o666)
    result = lint(["."], cwd=repo, cache=True)
    assert result.cache_note and "other users" in result.cache_note
    assert reports(result) == reports(lint(["."], cwd=repo, packs=packs, cache=False))


def test_ids_with_control_characters_are_checked_every_run(tmp_path: Path, packs) -> None:
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    template = repo / "templates" / "broken" / "no-brand-no-stop.yaml"
    text = template.read_text("utf-8").replace("sender: trailhead-10dlc", 'sender: "a\\x1fb\\x1ec"')
    template.write_text(text, "utf-8")
    for _ in range(3):
        cached, plain = both(["."], repo, packs, day)
        assert cached == plain


def test_a_file_that_changes_while_it_is_linted_stops_the_run_with_a_clear_error(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file taken as unchanged by its size and times whose bytes, read again to check a
    document, are not those the cache holds: no report is made from a mix of both."""
    repo = copy_repo(US, tmp_path)
    cli(["lint", "."], cwd=repo)
    sender = repo / "senders" / "trailhead-10dlc.yaml"
    sender.write_text(sender.read_text("utf-8") + "# edited\n", "utf-8")
    real = lintcache.scan

    def stale(path, row):  # as if its times had not moved
        info, raw = real(path, row)
        if row is not None and path.endswith("trailhead-10dlc.yaml"):
            row.stat = lintcache.stat_of(info)
            row.racy = False
            return info, None
        return info, raw

    monkeypatch.setattr(lintcache, "scan", stale)
    # a template that names it, changed: checked again, it reads the sender's registrations
    template = repo / "templates" / "clean" / "10dlc-weekend-sale.yaml"
    template.write_text(template.read_text("utf-8") + "# edited\n", "utf-8")
    run = cli(["lint", "templates/clean/10dlc-weekend-sale.yaml"], cwd=repo)
    assert run.code == 2
    assert "changed while it was being linted" in run.err
    assert "trailhead-10dlc.yaml" in run.err


def test_a_file_name_that_is_not_utf8_is_linted_with_the_cache(tmp_path: Path, packs) -> None:
    """A name the file system allows but UTF-8 does not (a Latin-1 é): that file is read every
    run, the rest is cached, and the reports are those without the cache."""
    if sys.platform != "linux":
        pytest.skip("names of arbitrary bytes are a Linux file system's")
    repo = copy_repo(US, tmp_path)
    source = repo / "templates" / "broken" / "no-brand-no-stop.yaml"
    odd = os.fsencode(repo / "templates") + b"/caf\xe9.yaml"
    with open(odd, "wb") as handle:
        handle.write(source.read_bytes().replace(b"id: flash-sale", b"id: cafe-sale"))
    day = DAYS[-1]
    for _ in range(2):
        cached, plain = both(["."], repo, packs, day)
        assert cached == plain
    assert "caf" in plain["text"]
    cached, plain = both(["templates/broken"], repo, packs, day)
    assert cached == plain


def test_a_result_spliced_from_another_version_of_its_file_is_not_read(
    tmp_path: Path, packs
) -> None:
    """Two caches this user made at two versions of a template: the result of the fixed
    version put beside the row of the broken one hides nothing (the result is marked with the
    digest of the bytes it was found in)."""
    repo = copy_repo(US, tmp_path)
    config = repo / "compliance.yaml"
    config.write_text(config.read_text("utf-8") + "ignore: [duplicate-id]\n", "utf-8")
    day = DAYS[-1]
    template = repo / "templates" / "broken" / "no-brand-no-stop.yaml"
    broken = template.read_bytes()
    expected, _ = both(["."], repo, packs, day)
    (db,) = (repo / ".compliance_cache").glob("lint-*.sqlite3")
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(FULL)")
    connection.close()
    snapshot = db.read_bytes()
    template.write_bytes(
        broken.replace(b'"Flash sale!', b'"Trailhead: Flash sale!').replace(
            b'in store."', b'in store. Reply STOP to opt out."'
        )
    )
    both(["."], repo, packs, day)
    connection = sqlite3.connect(db)
    fixed = connection.execute(
        "SELECT doc, findings, reads, signature, mark FROM results WHERE path = ?",
        ("templates/broken/no-brand-no-stop.yaml",),
    ).fetchall()
    connection.close()
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(snapshot)
    connection = sqlite3.connect(db)
    for doc, findings, reads, signature, marked in fixed:
        connection.execute(
            "UPDATE results SET findings = ?, reads = ?, signature = ?, mark = ? "
            "WHERE path = ? AND doc = ?",
            (findings, reads, signature, marked, "templates/broken/no-brand-no-stop.yaml", doc),
        )
    connection.commit()
    connection.close()
    template.write_bytes(broken)
    assert both(["."], repo, packs, day)[0] == expected


def test_ids_that_hold_a_separator_do_not_read_as_other_ids(tmp_path: Path, packs) -> None:
    """Senders a and b, then one sender "a<US>b": the known ids a finding lists differ."""
    repo = copy_repo(US, tmp_path)
    day = DAYS[-1]
    template = repo / "templates" / "broken" / "no-brand-no-stop.yaml"
    template.write_text(
        template.read_text("utf-8").replace("sender: trailhead-10dlc", "sender: zz"), "utf-8"
    )
    for sender in (repo / "senders").glob("*.yaml"):
        sender.unlink()
    sender = (ROOT / "examples" / "us" / "senders" / "trailhead-10dlc.yaml").read_text("utf-8")
    (repo / "senders" / "a.yaml").write_text(sender.replace("id: trailhead-10dlc", "id: a"))
    (repo / "senders" / "b.yaml").write_text(sender.replace("id: trailhead-10dlc", "id: b"))
    cached, plain = both(["templates/broken"], repo, packs, day)
    assert cached == plain
    (repo / "senders" / "b.yaml").unlink()
    (repo / "senders" / "a.yaml").write_text(sender.replace("id: trailhead-10dlc", 'id: "a\\x1fb"'))
    cached, plain = both(["templates/broken"], repo, packs, day)
    assert cached == plain
