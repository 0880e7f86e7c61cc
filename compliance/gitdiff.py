"""Which lines changed since a git ref: what `--diff-base REF` limits the report to."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from compliance.errors import UsageError

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
WHOLE_FILE = None  # a new or untracked file: every line counts as changed


def changed_lines(folder: Path, ref: str) -> dict[str, set[int] | None]:
    """Absolute path -> changed line numbers (1-based) in the working tree since `ref`;
    None for files that are new since then (every line counts)."""
    top = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    diff = _git(
        top, "diff", "--no-color", "--no-ext-diff", "--no-renames", "--unified=0", ref, "--"
    )
    changed: dict[str, set[int] | None] = {}
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            current = None if name == "/dev/null" else os.path.join(top, name[2:])
            if current is not None:
                changed.setdefault(current, set())
        elif current and (match := _HUNK.match(line)):
            start, count = int(match.group(1)), int(match.group(2) or 1)
            lines = changed[current]
            if lines is not None:
                # a pure deletion (count 0) touches the line after it
                lines.update(range(start, start + max(count, 1)))
    _mark_new_files(diff, top, changed)
    for name in _git(top, "ls-files", "--others", "--exclude-standard", "-z").split("\0"):
        if name:
            changed[os.path.join(top, name)] = WHOLE_FILE
    return changed


def _mark_new_files(diff: str, top: Path, changed: dict[str, set[int] | None]) -> None:
    new = False
    for line in diff.splitlines():
        if line.startswith("--- "):
            new = line == "--- /dev/null"
        elif line.startswith("+++ b/") and new:
            changed[os.path.join(top, line[6:])] = WHOLE_FILE


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise UsageError("--diff-base needs git, which is not installed") from None
    if done.returncode != 0:
        if args[:2] == ("rev-parse", "--verify"):
            raise UsageError(
                f"--diff-base {args[-1][:-9]!r} is not a commit in this repository "
                "(in CI, fetch it first, e.g. actions/checkout with fetch-depth: 0)"
            )
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        raise UsageError(f"--diff-base: git {args[0]} failed in {folder}: {detail}")
    return done.stdout


def touches(lines: set[int] | None, first: int, last: int) -> bool:
    """Whether a document spanning lines first..last has a changed line."""
    return lines is None or any(first <= n <= last for n in lines)
