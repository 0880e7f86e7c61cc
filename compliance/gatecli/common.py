"""What the gate's commands share: finding the repo and the ledger, reading times and CSV
files, and turning every library error into a message and exit 2 (no usage banner in front of
a data error, no traceback)."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2
NEVER_CREATES = " Never created here: make one with `compliance ledger init`."


class DataError(click.ClickException):
    """Bad data (a value, a file, a ledger), not bad usage: exit 2 with the message alone."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body; the library's errors (bad arguments, an unusable ledger or
    bundle, an unreadable file) become exit 2 with their message."""
    from compliance.errors import ComplianceError

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (ComplianceError, ValueError, TypeError) as exc:
            raise DataError(str(exc)) from None

    return run


def when(value: str | None, name: str = "--at") -> dt.datetime | None:
    """An ISO 8601 time with an offset, or DataError saying what to write."""
    if value is None:
        return None
    from compliance.gate.model import aware

    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DataError(
            f"{name}: {value!r} is not an ISO 8601 time; write e.g. 2026-11-26T15:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise DataError(f"{name}: {value!r} has no offset; add Z (UTC) or one like +01:00")
    try:
        return aware(parsed, name)
    except ValueError as exc:
        raise DataError(str(exc)) from None


class LedgerTarget(click.ParamType):
    """A ledger file's path, or a postgresql:// URL (kept as it is: a path would fold its
    '//')."""

    name = "PATH|URL"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path | str:
        from compliance.gate.ledger import is_url

        if isinstance(value, Path) or is_url(value):
            return value  # type: ignore[no-any-return]
        from compliance.gate.ledger.pg import looks_like_url

        text = str(value)
        if "://" in text or looks_like_url(text):
            from compliance.gate.ledger.pg import shown

            self.fail(
                f"{shown(text)!r} is not a ledger: give a file path or a postgresql:// URL",
                param,
                ctx,
            )
        return Path(text)


def ledger_option(*, creates: bool = False) -> Callable[..., Any]:
    note = " Created if missing." if creates else NEVER_CREATES
    return click.option(
        "--ledger",
        type=LedgerTarget(),
        help="Ledger file, or PostgreSQL URL postgresql://USER@HOST:PORT/DB (default: "
        "$COMPLIANCE_DB, else .compliance/ledger.db in the template repo)." + note,
    )


def source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--bundle",
        type=click.Path(path_type=Path, dir_okay=False),
        help="A bundle built by `compliance bundle` instead of the repo.",
    )(f)
    return click.option(
        "--repo",
        type=click.Path(path_type=Path),
        help="Template repo (default: the one holding the working folder: the nearest "
        "compliance.yaml above it).",
    )(f)


def repo_root() -> Path | None:
    """The template repo the working folder is in: the folder of the nearest compliance.yaml
    (or .compliance.yaml) at or above it."""
    from compliance.config import find_config

    found = find_config(Path.cwd())
    return found.parent if found else None


def ledger_path(ledger: Path | str | None) -> Path | str:
    """--ledger, else $COMPLIANCE_DB, else .compliance/ledger.db in the template repo (so a
    command run from a subfolder finds the same ledger), else in the working folder. A
    postgresql:// URL is kept as it is."""
    if ledger is not None:
        return ledger
    if os.environ.get("COMPLIANCE_DB"):
        from compliance.gate.ledger import default_path

        return default_path()
    from compliance.gate.ledger import DEFAULT_LEDGER

    return (repo_root() or Path.cwd()) / DEFAULT_LEDGER


def open_gate(repo: Path | None, bundle: Path | None, ledger: Path | str | None) -> Any:
    from compliance.gate import Gate

    if repo is not None and bundle is not None:
        raise DataError("give --repo or --bundle, not both")
    if bundle is None and repo is None:
        repo = repo_root()
        if repo is None:
            raise DataError(
                f"no template repo found at or above {Path.cwd()}: run the command inside one "
                "(a folder with compliance.yaml, or below it), or pass --repo or --bundle"
            )
    return _closed_with_command(Gate.open(repo=repo, bundle=bundle, ledger=ledger_path(ledger)))


def _closed_with_command(opened: Any) -> Any:
    """Close the gate or ledger when the command ends (a PostgreSQL ledger then writes a
    checkpoint of what the command appended)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(opened.close)
    return opened


def open_ledger(ledger: Path | str | None, *, readonly: bool = False) -> Any:
    """An existing ledger; read-only commands never write to it (an auditor's copy, or a
    PostgreSQL standby, works)."""
    from compliance.gate.ledger import open_ledger as opened

    return _closed_with_command(opened(ledger_path(ledger), readonly=readonly))


def now(gate: Any = None) -> dt.datetime:
    """When something the command records happened, when --at is not given: the gate's clock."""
    if gate is not None:
        return gate._db.clock()
    from compliance.gate import model

    return model.system_clock()


def read_text(file: IO[bytes], name: str) -> str:
    """A CSV file's text: UTF-8 (a byte-order mark is dropped), or DataError naming the line."""
    data = file.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}: line {line} is not UTF-8 text (byte {exc.start + 1}); save the file as "
            "UTF-8 (CSV UTF-8 in a spreadsheet) and import it again"
        ) from None


def csv_rows(file: IO[bytes], name: str) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each row with something in it."""
    reader = csv.reader(io.StringIO(read_text(file, name)))
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                yield reader.line_num, [cell.strip() for cell in row]
    except csv.Error as exc:
        # (line_num counts the lines read before the one that failed)
        raise DataError(f"{name}: line {reader.line_num + 1}: {exc}") from None


@contextmanager
def output(path: Path | None, option: str = "-o") -> Iterator[IO[str]]:
    """Standard output, or the file; one that cannot be written is DataError."""
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
    except OSError as exc:  # the disk filled up, the device went away
        raise DataError(f"cannot write {option} {path}: {exc.strerror or exc}") from None


# what a spreadsheet runs as a formula when a cell starts with it (OWASP, CSV injection)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows and never runs: text starting like a formula gets a
    leading apostrophe, except numbers such as +14155550123 (which no spreadsheet runs)."""
    if not isinstance(value, str) or not value.startswith(_FORMULA):
        return value
    if value[0] in "+-" and value[1:].replace(".", "", 1).isdigit():
        return value
    return "'" + value
