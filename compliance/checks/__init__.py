"""The check kinds: one module each, listed here once. A rule file names its kind."""

from __future__ import annotations

from types import ModuleType

from compliance.checks import (
    coverage,
    duplicates,
    hidden,
    market_pack,
    placeholders,
    references,
    schema,
    sms_encoding,
    suppressions,
    syntax,
)

_KINDS: tuple[ModuleType, ...] = (
    syntax,
    schema,
    references,
    duplicates,
    coverage,
    placeholders,
    hidden,
    sms_encoding,
    market_pack,
    suppressions,
)


def registry() -> dict[str, ModuleType]:
    return {module.KIND: module for module in _KINDS}
