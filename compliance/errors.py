"""The library's one exception family; only the CLI turns these into messages and exit codes."""

from __future__ import annotations


class ComplianceError(Exception):
    """Base of every error the library raises on purpose."""


class UsageError(ComplianceError, ValueError):
    """The caller asked for something that cannot be done (a missing path, an unknown rule)."""


class LocatedError(ComplianceError):
    """An error in a user's file, placed at its line and column."""

    def __init__(
        self,
        message: str,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return f"{where}: {self.message}" if where else self.message


class ConfigError(LocatedError):
    """compliance.yaml (or a --config file, or a command-line value) is invalid."""


class PackError(LocatedError):
    """A rule or market file is invalid."""


class BundleError(ComplianceError, ValueError):
    """A bundle that must not be loaded: unreadable, malformed, altered after it was built, or
    not signed by a key this host trusts. Also a ValueError, which is what `Gate.open` raised
    for a bad bundle before this class existed, so callers catching that keep working."""


class BundleKeyError(BundleError):
    """COMPLIANCE_BUNDLE_KEY or COMPLIANCE_BUNDLE_SIGNING_KEY does not hold a usable key. A
    BundleError, since no bundle can be trusted or signed until a person fixes it."""


class LedgerError(ComplianceError):
    """The ledger cannot be read or written: the gate answers deny (ledger.error)."""


class LedgerConfigError(LedgerError):
    """The ledger is readable but cannot be used as it is (a missing subject key, a newer or
    unexpected schema, an old ledger that does not verify): a person must act."""


class LedgerMissingError(LedgerError):
    """There is no ledger at the path (missing, empty, or not a ledger) and none was to be
    created."""
