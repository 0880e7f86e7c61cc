"""`compliance ledger status`: what a ledger holds, read the same way on either backend."""

from __future__ import annotations

from typing import Any


def status(ledger: Any, backend: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Backend, schema version, subject mode, entries by kind and the newest entry's time;
    `extra` adds the backend's own (chains, checkpoints)."""
    with ledger.reading() as conn:
        kinds = {
            str(kind): int(count)
            for kind, count in conn.execute(
                "SELECT kind, COUNT(*) FROM audit_log GROUP BY kind ORDER BY kind"
            ).fetchall()
        }
        newest = conn.execute("SELECT at FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}
    return {
        "ledger": str(ledger.path),
        "backend": backend,
        "schema_version": int(meta.get("schema_version", "0") or 0),
        "subjects": "keyed hashes" if meta.get("subjects") == "hashed" else "as given",
        "entries": sum(kinds.values()),
        "newest": newest[0] if newest else None,
        "kinds": kinds,
        "chains": 1,
        **(extra or {}),
    }
