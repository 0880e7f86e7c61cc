"""Pauses, do-not-contact lists, registry checks and reassigned numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance.gate import audit
from compliance.gate.ledger.common import micros
from compliance.gate.model import aware, printable

# each target's newest pause event, in the trail's order (the entry that wrote it), never by
# id alone: ids come from a sequence, which nothing but verify ties to the trail
PAUSED = (
    "SELECT target_kind, target, paused, reason FROM pauses p WHERE p.id = (SELECT q.id FROM "
    "pauses q WHERE q.target_kind = p.target_kind AND q.target = p.target ORDER BY "
    "q.audit_seq DESC, q.id DESC LIMIT 1)"
)


def in_force(rows: Any) -> dict[tuple[str, str], str]:
    """(kind, target) -> reason of the targets PAUSED finds paused."""
    return {(kind, target): reason for kind, target, paused, reason in rows if paused}


class Lists:
    """What stops sends whatever the consent: pauses, lists and disconnections."""

    # runs on a storage backend: what it provides is store.Store (sqlite.py is one)

    def set_pause(self, kind: str, target: str, paused: bool, reason: str, by: str) -> int:
        with self.write():
            self._forget()
            seq = self.next_seq()
            row = (
                printable(kind),
                printable(target),
                int(paused),
                printable(reason),
                printable(by),
                self.now.isoformat(),
            )
            whole = self._insert("pauses", [row], seq)
            return self.audit(
                kind="pause" if paused else "resume",
                subject=None,
                data={
                    "target_kind": kind,
                    "target": target,
                    "reason": reason,
                    "by": by,
                    "rows": {"pauses": audit.rows_digest(whole)},
                },
            )

    def paused(self) -> dict[tuple[str, str], str]:
        """(kind, target) -> reason, for targets whose latest pause event is a pause."""
        known = self._known.get("paused")
        if known is not None:
            return known
        with self.reading() as conn:
            rows = conn.execute(PAUSED).fetchall()
        found = in_force(rows)
        self._known["paused"] = found
        return found

    def dnc_listed(self, subject: str) -> list[str]:
        sid = self.sid(subject)
        if self._batch is not None and sid in self._batch["subjects"]:
            return [name for (name,) in self._batch["dnc"].get(sid, [])]
        rows = self.conn.execute("SELECT list FROM dnc_entries WHERE subject = ?", (sid,))
        return [name for (name,) in rows]

    def registry_checked(self, market: str) -> int | None:
        """When the market's national registry was last checked (microseconds), or None."""
        registry = self._known.setdefault("registry", {})
        if market in registry:
            return registry[market]
        row = self.conn.execute(
            "SELECT MAX(checked_at_us) FROM dnc_checks WHERE market = ?", (market,)
        ).fetchone()
        registry[market] = row[0] if row else None  # until the lists change
        return registry[market]

    def ever_disconnected(self, number: str) -> bool:
        """Whether the number is in the reassigned list at all (most are not)."""
        sid = self.sid(number)
        if self._batch is not None and sid in self._batch["subjects"]:
            return sid in self._batch["gone"]
        row = self.conn.execute("SELECT 1 FROM reassigned WHERE number = ? LIMIT 1", (sid,))
        return row.fetchone() is not None

    def disconnected_after(self, number: str, since_us: int) -> bool:
        """Whether the number was disconnected at or after `since_us` (consent given then)."""
        sid = self.sid(number)
        if self._batch is not None and sid in self._batch["subjects"]:
            return any(since_us <= when for (when,) in self._batch["gone"].get(sid, []))
        row = self.conn.execute(
            "SELECT 1 FROM reassigned WHERE number = ? AND disconnected_us >= ? LIMIT 1",
            (sid, since_us),
        ).fetchone()
        return row is not None

    def import_dnc(
        self,
        name: str,
        subjects: list[tuple[str, str | None]],
        *,
        registry_market: str | None,
        checked_at: dt.datetime | None,
    ) -> int:
        """Add numbers or addresses to a do-not-contact list; a registry import also records
        its check (never later than now)."""
        checked = aware(checked_at, "checked_at") if checked_at is not None else None
        with self.write():
            self._forget()
            if registry_market is not None:  # a check cannot have happened later than now
                checked = self.now if checked is None else min(checked, self.now)
            seq = self.next_seq()
            new = self._new_entries(name, subjects)
            entries = self._insert("dnc_entries", new, seq)
            rows = {"dnc_entries": audit.rows_digest(entries)}
            if registry_market is not None and checked is not None:
                check = (name, registry_market, micros(checked))
                rows["dnc_checks"] = audit.rows_digest(self._insert("dnc_checks", [check], seq))
            return self.audit(
                kind="dnc.import",
                subject=None,
                data={
                    "list": name,
                    "entries": len(subjects),
                    "added": len(new),
                    "registry_market": registry_market,
                    "checked_at": checked.isoformat() if checked else None,
                    "rows": rows,
                },
            )

    def _new_entries(
        self, name: str, subjects: list[tuple[str, str | None]]
    ) -> list[tuple[Any, ...]]:
        """The entries not on the list already (each once), as dnc_entries rows."""
        wanted: dict[str, str | None] = {}
        for subject, added in subjects:
            wanted.setdefault(self.sid(subject), added)
        known: set[str] = set()
        keys = list(wanted)
        size = self._params_per_query()
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            known.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT subject FROM dnc_entries WHERE list = ? AND subject IN "
                    f"({','.join('?' * len(chunk))})",
                    (name, *chunk),
                )
            )
        return [(name, sid, added) for sid, added in wanted.items() if sid not in known]

    def import_reassigned(self, rows: list[tuple[str, dt.datetime]]) -> int:
        """Numbers and when they were disconnected (e.g. from the US Reassigned Numbers
        Database): consent given before the disconnection is void."""
        wanted = {(self.sid(n), micros(aware(when, "disconnected"))) for n, when in rows}
        with self.write():
            self._forget()
            known = set(self.conn.execute("SELECT number, disconnected_us FROM reassigned"))
            new = sorted(wanted - known)
            seq = self.next_seq()
            whole = self._insert("reassigned", new, seq)
            return self.audit(
                kind="reassigned.import",
                subject=None,
                data={
                    "numbers": len(rows),
                    "added": len(new),
                    "rows": {"reassigned": audit.rows_digest(whole)},
                },
            )
