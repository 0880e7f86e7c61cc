"""Compliance and consent toolchain for messaging: lint templates in CI, gate sends at run time."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Public names resolved on first use, so `compliance --version` and the linter do not
# pay for the runtime gate's imports (design.md: lazy imports keep the CLI start quick).
_LAZY = {
    "Gate": ("compliance.gate", "Gate"),
    "Send": ("compliance.gate", "Send"),
    "Decision": ("compliance.gate", "Decision"),
    "Reason": ("compliance.gate", "Reason"),
    "lint": ("compliance.engine", "lint"),
    "LintResult": ("compliance.engine", "LintResult"),
    "Finding": ("compliance.findings", "Finding"),
    "ComplianceError": ("compliance.errors", "ComplianceError"),
    "ConfigError": ("compliance.errors", "ConfigError"),
    "PackError": ("compliance.errors", "PackError"),
    "BundleError": ("compliance.errors", "BundleError"),
    "BundleKeyError": ("compliance.errors", "BundleKeyError"),
    "UsageError": ("compliance.errors", "UsageError"),
    "LedgerError": ("compliance.errors", "LedgerError"),
    "LedgerConfigError": ("compliance.errors", "LedgerConfigError"),
    "LedgerMissingError": ("compliance.errors", "LedgerMissingError"),
    "NaiveDatetimeError": ("compliance.gate.model", "NaiveDatetimeError"),
    "Verdict": ("compliance.gate.verify", "Verdict"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'compliance' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
