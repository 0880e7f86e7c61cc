"""Making files and folders read-only for a test, whoever runs it.

File modes do not stop root, and CI runs as root: there the paths are made immutable with
`chattr +i` instead, and the test is skipped only where that tool or the file system's
support for it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only(paths: list[Path]) -> Iterator[None]:
    """While inside, `paths` (files and folders) cannot be written, even by root."""
    if os.geteuid() == 0:  # root writes through file modes: make the paths immutable instead
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a path read-only")
        lock = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
        if lock.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {lock.stderr.strip()!r}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        return
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)
