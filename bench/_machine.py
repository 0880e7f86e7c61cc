"""The machine a benchmark ran on, printed under every table (shared by the bench scripts)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_rows() -> list[tuple[str, str, str]]:
    """Platform, CPU with its cores (all and usable by this process), Python."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return [
        ("platform", platform.platform(), ""),
        ("cpu", cpu_model(), f"{cores} logical cores, {usable} usable"),
        (
            "python",
            f"{platform.python_implementation()} {platform.python_version()}",
            sys.executable,
        ),
    ]
