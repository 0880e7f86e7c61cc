"""The SQLite ledger provides everything store.Store says the records need, and the records
use nothing of the storage beyond it: a second backend that provides Store runs them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from compliance.gate.ledger import Ledger, inbound, lists, records, store

RECORDS = (records.Records, lists.Lists, inbound.Inbound)


def store_names() -> set[str]:
    names = set(store.Store.__annotations__)
    names |= {n for n, v in vars(store.Store).items() if callable(v) and not n.startswith("__")}
    return names


def test_the_sqlite_ledger_provides_the_store(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db", create=True)
    try:
        missing = [n for n in sorted(store_names()) if not hasattr(ledger, n)]
        assert missing == []
    finally:
        ledger.close()


def test_the_records_ask_the_storage_for_nothing_else():
    own = {n for cls in RECORDS for n in vars(cls)}
    used = set()
    for cls in RECORDS:
        tree = ast.parse(Path(inspect.getfile(cls)).read_text("utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                used.add(node.attr)
    assert sorted(used - own - store_names()) == []
