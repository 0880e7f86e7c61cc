"""Report formats: one module each, listed here once. Each has
`render(result, *, include_suppressed: bool, color: bool) -> str`."""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS = ("text", "json", "sarif", "github", "junit")


def get(name: str) -> ModuleType:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    # imported on use: `--format text` should not pay for the XML or SARIF writers
    return importlib.import_module(f"compliance.reports.{name}_report")
