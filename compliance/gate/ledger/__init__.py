"""The consent ledger: what a decision reads and writes, and the audit trail that vouches for it.

records.py, lists.py and inbound.py say what the ledger records; sqlite.py stores it in one
SQLite file shared by every process on a host.
"""

from compliance.errors import LedgerConfigError, LedgerError, LedgerMissingError
from compliance.gate.ledger.common import (
    BUSY_TIMEOUT_S,
    DEFAULT_LEDGER,
    ERASED,
    FAMILIES,
    TEXT,
    default_path,
    family,
    from_us,
    micros,
)
from compliance.gate.ledger.sqlite import Ledger

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_LEDGER",
    "ERASED",
    "FAMILIES",
    "TEXT",
    "Ledger",
    "LedgerConfigError",
    "LedgerError",
    "LedgerMissingError",
    "default_path",
    "family",
    "from_us",
    "micros",
]
