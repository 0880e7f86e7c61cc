from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

# PostgreSQL fixtures: pg_server, pg_database(_factory), pg_roles, pg_cluster (see tests/pg.py)
from tests.pg import (  # noqa: F401
    pg_cluster,
    pg_database,
    pg_database_factory,
    pg_roles,
    pg_server,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@dataclass
class Run:
    code: int
    out: str
    err: str


class Repo:
    """A throwaway template repo: a folder with .git so that it is its own root."""

    def __init__(self, path: Path, fake_git: bool = True) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        if fake_git:
            (path / ".git").mkdir(exist_ok=True)

    def write(self, rel: str, text: str) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
        return target


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run the real entry point in-process: cli(args, cwd=...) -> Run(code, out, err)."""
    from compliance.cli import main

    def invoke(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(args)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return invoke


SENDER = """
kind: sender
id: acme-us
channel: sms
type: long_code
address: "+14155550123"
markets: [MX]
purposes: [marketing, transactional]
"""

SCOPE = """
kind: consent_scope
id: promos
channels: [sms]
purposes: [marketing]
consent: express_written
"""

TEMPLATE = """
kind: template
id: spring-sale
channel: sms
purpose: marketing
markets: [MX]
sender: acme-us
consent_scope: promos
body: "Acme: sale today, code {{code}}. Reply STOP to opt out."
variables:
  code: {example: SPRING, max_length: 8}
"""


class Clock:
    """A clock a test sets: Gate.open(..., clock=Clock(start)); clock.now = ...; clock.advance(...)."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        import datetime as dt

        self.now = self.now + dt.timedelta(**delta)
        return self.now


@pytest.fixture
def frozen(monkeypatch):
    """Fix the system clock the gate and its commands read: frozen(datetime) sets it."""
    from compliance.gate import model

    clock = Clock(None)
    monkeypatch.setattr(model, "system_clock", clock)

    def set_to(now):
        clock.now = now
        return clock

    return set_to


# The ledger's two backends: a test that takes `ledger_at` runs once on each (a SQLite file,
# a fresh PostgreSQL database), with what it asserts unchanged (tests/backends.py).
@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger_at(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where a test's ledger is: tmp_path/ledger.db, or the URL of a new database."""
    if backend == "sqlite":
        return tmp_path / "ledger.db"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture(autouse=True, scope="session")
def _user_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The lint cache's key and the rule packs' copy go to a folder of the test session's own
    (XDG_CACHE_HOME), never the user's ~/.cache; subprocesses inherit it."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
