"""Subjects and consent: who a subject is in the ledger, grants and revocations, and their
history, read newest first."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from compliance.errors import LedgerConfigError
from compliance.gate import audit, batch
from compliance.gate.ledger.common import ERASED, family, from_us, micros
from compliance.gate.model import aware, printable
from compliance.gate.opening import SUBJECT_KEY_ENV


class Records:
    """Consent events and the subjects they are about."""

    # runs on a storage backend: what it provides is store.Store (sqlite.py is one)

    def sid(self, subject: str) -> str:
        """How a subject is stored: itself, or a keyed hash when the ledger pseudonymises
        subjects (the raw value then lives only in the erasable `subjects` table)."""
        if self.subject_key is None:
            return subject
        return audit.pseudonym(self.subject_key, subject)

    def _remember(self, subject: str) -> str:
        sid = self.sid(subject)
        if self.subject_key is not None and subject != sid and not self._erased(sid):
            self.conn.execute(self.dialect.remember_subject(), (sid, subject))
        return sid

    def _erased(self, sid: str) -> bool:
        """Erasure is permanent: the raw identifier is never written back."""
        if self._batch is not None and sid in self._batch["subjects"]:
            return (ERASED,) in self._batch["dnc"].get(sid, ())
        row = self.conn.execute(
            "SELECT 1 FROM dnc_entries WHERE subject = ? AND list = ?", (sid, ERASED)
        ).fetchone()
        return row is not None

    def erase(self, subject: str) -> int:
        """Remove the raw identifier; a hashed suppression entry keeps the subject from ever
        being messaged again, and the audit trail (which holds only hashes) stays intact."""
        if self.subject_key is None:
            raise LedgerConfigError(
                f"ledger {self.path} stores raw subjects, so nothing can be erased "
                f"without rewriting the audit trail: create ledgers with "
                f"{SUBJECT_KEY_ENV} set to pseudonymise subjects"
            )
        sid = self.sid(subject)
        with self.write():
            self._forget()
            self.conn.execute("DELETE FROM subjects WHERE sid = ?", (sid,))
            seq = self.next_seq()
            rows = [] if self._erased(sid) else [(ERASED, sid, self.now.isoformat())]
            whole = self._insert("dnc_entries", rows, seq)
            return self.audit(
                kind="subject.erase",
                subject=None,
                data={"subject": sid, "rows": {"dnc_entries": audit.rows_digest(whole)}},
            )

    def record_consents(self, events: list[dict[str, Any]]) -> list[int]:
        """Grants and revocations in one transaction, each with its own audit entry: all of
        them are written, or none. An event's time is when it was given, but never later
        than when it is recorded. Returns their audit entries."""
        seqs = []
        with self.write(subjects=[event["subject"] for event in events]):
            for event in events:
                stated = aware(event["at"])
                at = min(stated, self.now)
                if event["action"] == "revoke":
                    at = self._after_grants(event["subject"], event["channel"], event["scope"], at)
                seq = self.next_seq()
                row = self._event_row(
                    event["subject"],
                    event["channel"],
                    event["scope"],
                    event["action"],
                    event["source"],
                    at,
                    event.get("capture_digest"),
                    event.get("evidence") or {},
                )
                whole = self._insert("consent_events", [row], seq)
                data = {
                    "channel": event["channel"],
                    "scope": event["scope"],
                    "source": event["source"],
                    "at": at.isoformat(),
                    "capture_digest": event.get("capture_digest"),
                    "evidence": event.get("evidence") or {},
                    "rows": {"consent_events": audit.rows_digest(whole)},
                }
                if stated != at:
                    data["stated_at"] = stated.isoformat()  # a time later than the record's
                seqs.append(
                    self.audit(
                        kind=f"consent.{event['action']}",
                        subject=event["subject"],
                        data=data,
                        channel=event["channel"],
                    )
                )
        return seqs

    def _event_row(
        self,
        subject: str,
        channel: str,
        scope: str | None,
        action: str,
        source: str,
        at: dt.datetime,
        capture_digest: str | None,
        evidence: dict[str, Any],
    ) -> tuple[Any, ...]:
        """A consent_events row without its id and audit_seq."""
        return (
            self.sid(subject),
            channel,
            scope,
            action,
            printable(source),
            at.isoformat(),
            micros(at),
            capture_digest,
            printable(json.dumps(evidence, sort_keys=True, ensure_ascii=False, default=str)),
        )

    def _after_grants(
        self,
        subject: str,
        channel: str,
        scope: str | None,
        at: dt.datetime,
        *,
        stored: bool = False,
    ) -> dt.datetime:
        """When an opt-out takes effect: its own time, but never before a grant (of its scope;
        of any scope, or an opt-in, for the whole channel) already recorded. Clocks of several
        hosts disagree: a STOP stamped two minutes behind the grant it answers must still win
        over it, and one that truly came first loses nothing by being later."""
        channels = family(channel)
        sql = (
            "SELECT MAX(at_us) FROM consent_events WHERE subject = ? AND channel IN "
            f"({','.join('?' * len(channels))}) AND action IN ('grant', 'opt_in')"
        )
        args: list[Any] = [subject if stored else self.sid(subject), *channels]
        if scope is not None:
            sql += " AND scope = ?"
            args.append(scope)
        newest = self.conn.execute(sql, args).fetchone()[0]
        if newest is not None and newest > micros(at):
            return from_us(newest)
        return at

    def consent_events(self, subject: str, channel: str) -> list[tuple[Any, ...]]:
        """The newest event per scope (None: the whole channel) on the channel's family, as
        (scope, action, at_us, source), newest first. Of events at the same instant an
        opt-out (a revoke) is the newer; of the same kind, the one recorded later."""
        sid = self.sid(subject)
        channels = family(channel)
        if self._batch is not None and sid in self._batch["subjects"]:
            rows = [r for r in self._batch["events"].get(sid, ()) if r[0] in channels]
        else:
            marks = ",".join("?" * len(channels))
            rows = self.conn.execute(
                self.dialect.newest(f"subject = ? AND channel IN ({marks})"),
                (sid, *channels),
            ).fetchall()
        if len(rows) == 1:  # most people: one scope on one channel
            row = rows[0]
            return [(row[1], row[2], row[6], row[4])]
        newest: dict[Any, tuple[Any, ...]] = {}
        for row in rows:  # (channel, scope, action, rank, source, id, at_us)
            known = newest.get(row[1])
            if known is None or (row[3], row[5]) > (known[3], known[5]):
                newest[row[1]] = row
        ordered = sorted(newest.values(), key=lambda r: (r[3], r[5]), reverse=True)
        return [(r[1], r[2], r[6], r[4]) for r in ordered]

    def prefetch(self, subjects: list[str] | None, since_us: int = 0, until_us: int = 0) -> None:
        """Read what a batch's subjects' decisions need in a few queries, for the length of the
        current write transaction (nothing else writes meanwhile: the transaction holds the
        lock): the newest consent event per channel and scope, list entries, disconnections,
        open reviews and the allowed sends scheduled in (since_us, until_us) for frequency
        caps. None clears it."""
        if subjects is None:
            self._batch = None
            return
        self._batch = batch.read_batch(
            self.conn,
            self.dialect,
            self._known,
            list(dict.fromkeys(self.sid(s) for s in subjects)),
            since_us,
            until_us,
            self._params_per_query(),
        )

    def pending_review(self, subject: str, channel: str) -> bool:
        """A reply on the channel's family that may be an opt-out, not yet resolved."""
        sid = self.sid(subject)
        channels = family(channel)
        if self._batch is not None and sid in self._batch["subjects"]:
            waiting = self._batch["review"].get(sid)
            return bool(waiting) and any((c,) in waiting for c in channels)
        marks = ",".join("?" * len(channels))
        row = self.conn.execute(
            f"SELECT 1 FROM reviews r WHERE subject = ? AND channel IN ({marks}) AND NOT EXISTS "
            "(SELECT 1 FROM review_resolutions x WHERE x.review = r.id) LIMIT 1",
            (sid, *channels),
        ).fetchone()
        return row is not None

    def history(self, subject: str) -> list[dict[str, Any]]:
        names = (
            "channel",
            "scope",
            "action",
            "source",
            "at",
            "capture_digest",
            "evidence",
            "audit_seq",
        )
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(names)} FROM consent_events WHERE subject = ? "
                "ORDER BY at_us, id",
                (self.sid(subject),),
            ).fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]
