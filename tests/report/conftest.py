"""The example ledger (examples/make_ledger.py: a month of Acme's sends through the gate, with
figures known in advance), built once per test process, and the report made from it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme"
UNTIL = "2026-12-01T00:00:00Z"


def _maker() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_ledger", ROOT / "examples" / "make_ledger.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_ledger = _maker()


@pytest.fixture(scope="session")
def example_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example ledger; tests that change it take a copy (example_copy)."""
    path = tmp_path_factory.mktemp("example") / "ledger.db"
    make_ledger.build(path)
    return path


@pytest.fixture
def example_copy(example_ledger: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger.db"
    shutil.copy(example_ledger, copy)
    return copy


def report_json(
    cli: Any, ledger: Path | str, *extra: str, repo: Path | None = ACME
) -> dict[str, Any]:
    args = ["report", "--ledger", str(ledger), "--until", UNTIL, "--format", "json", *extra]
    if repo is not None:
        args += ["--repo", str(repo)]
    run = cli(args)
    assert run.code == 0, run.err
    return json.loads(run.out)


@pytest.fixture(scope="session")
def example_figures(example_ledger: Path) -> dict[str, Any]:
    """The figures of the example ledger for November 2026, as `--format json` prints them."""
    from click.testing import CliRunner

    from compliance.cli import cli

    run = CliRunner().invoke(
        cli,
        [
            "report",
            "--ledger",
            str(example_ledger),
            "--until",
            UNTIL,
            "--format",
            "json",
            "--repo",
            str(ACME),
        ],
    )
    assert run.exit_code == 0, run.output
    return json.loads(run.stdout)
