"""Inbound replies, the reviews of doubtful ones, and the recent sends frequency caps count."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from compliance.gate import audit
from compliance.gate.ledger.common import micros
from compliance.gate.model import aware, printable
from compliance.gate.verify import DAY_US


class Inbound:
    """Replies and reviews; allowed sends for caps."""

    # runs on a storage backend: what it provides is store.Store (sqlite.py is one)

    def record_inbound(
        self,
        *,
        subject: str,
        channel: str,
        sender: str | None,
        text: str,
        action: str,
        at: dt.datetime,
    ) -> int:
        """An inbound message and what it meant: an opt-out or opt-in changes consent on the
        whole channel; a doubtful one waits for a person. Dated when it was sent, but never
        later than when it is recorded."""
        with self.write(subjects=[subject]):
            self._forget()
            return self._inbound(subject, channel, sender, text, action, at, {})

    def record_webhook(
        self,
        *,
        provider: str,
        message_id: str,
        readings: list[tuple[str, str]],
        channel: str,
        sender: str | None,
        text: str,
        reply: str | None,
        at: dt.datetime,
        also: tuple[tuple[str, str], ...] = (),
    ) -> tuple[str, str | None, int, bool]:
        """An inbound message a provider's webhook delivered, recorded once whatever the
        retries: `readings` are the (subject, action) it is recorded for, all in one
        transaction with the provider's message id (and the other (provider, id) keys in
        `also`, such as the request's signature). Returns (action, reply, entry, replayed):
        for a message any of whose keys was recorded before, by any host, what was recorded
        then and True, and nothing is written."""
        keys = [(provider, message_id), *also]
        sid, meaning = self.sid(readings[0][0]), readings[0][1]
        # a conflicting message recorded before (see below) is a retry of itself
        own = (f"{provider}:conflict", f"{message_id} {sid} {meaning}")
        with self.write(subjects=[subject for subject, _ in readings]):
            self._forget()
            conflict = None
            for key in (own, *keys):
                found = self.conn.execute(
                    "SELECT action, reply, audit_seq, subject FROM webhook_messages WHERE "
                    "provider = ? AND message_id = ?",
                    key,
                ).fetchone()
                if found is None:
                    continue
                if key == own or (found[3] == sid and found[0] == meaning):
                    return found[0], found[1], found[2], True
                if meaning not in ("opt_out", "review"):
                    # the same id for another subject or meaning: a provider never changes
                    # a retry, so this is a collision, a planted row or a re-cut of a captured
                    # request. Nothing but an opt-out (or a reply a person must read) is
                    # recorded on such an id: an opt-in there could re-enable a victim
                    return found[0], found[1], found[2], True
                # an opt-out is never taken for a retry: recorded, naming the entry
                conflict = found[2]
            first = None
            for subject, action in readings:
                seq = self.next_seq()
                rows = []
                if first is None:
                    targets = keys if conflict is None else [own]
                    rows = [(name, ident, sid, action, reply) for name, ident in targets]
                whole = self._insert("webhook_messages", rows, seq)
                extra = {
                    "message": {"provider": provider, "id": message_id},
                    **({"rows": {"webhook_messages": audit.rows_digest(whole)}} if whole else {}),
                    **({"conflicts_with": conflict} if conflict is not None else {}),
                }
                written = self._inbound(subject, channel, sender, text, action, at, extra)
                first = written if first is None else first
            assert first is not None
            return readings[0][1], reply, first, False

    def _inbound(
        self,
        subject: str,
        channel: str,
        sender: str | None,
        text: str,
        action: str,
        at: dt.datetime,
        extra: dict[str, Any],
    ) -> int:
        """record_inbound's rows and entry, inside the caller's write; `extra`: more data for
        the entry (its "rows" merged with the inbound's own)."""
        data: dict[str, Any] = {
            "channel": channel,
            "sender": sender,
            "text": text,
            "action": action,
            **{k: v for k, v in extra.items() if k != "rows"},
        }
        covered = dict(extra.get("rows", {}))
        when = min(aware(at), self.now)
        if action == "opt_out":
            when = self._after_grants(subject, channel, None, when)
        seq = self.next_seq()
        data["at"] = when.isoformat()
        if action in ("opt_out", "opt_in"):
            row = self._event_row(
                subject,
                channel,
                None,
                "revoke" if action == "opt_out" else "opt_in",
                f"inbound:{text.strip()[:40]}",
                when,
                None,
                {},
            )
            whole = self._insert("consent_events", [row], seq)
            covered["consent_events"] = audit.rows_digest(whole)
        elif action == "review":
            row = (self.sid(subject), channel, printable(text), when.isoformat())
            whole = self._insert("reviews", [row], seq)
            data["review"] = whole[0][0]
            covered["reviews"] = audit.rows_digest(whole)
        if covered:
            data["rows"] = covered
        return self.audit(kind="inbound", subject=subject, data=data, channel=channel)

    def reviews(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Inbound messages that might be opt-outs, oldest first: the open ones, or all."""
        sql = (
            "SELECT r.id, COALESCE(s.raw, r.subject), r.channel, r.text, r.at, x.review IS NOT "
            "NULL, x.resolution, x.by, r.audit_seq, x.audit_seq FROM reviews r LEFT JOIN "
            "subjects s ON s.sid = r.subject LEFT JOIN review_resolutions x ON x.review = r.id"
            + ("" if include_resolved else " WHERE x.review IS NULL")
        )
        names = (
            "id",
            "subject",
            "channel",
            "text",
            "at",
            "resolved",
            "resolution",
            "by",
            "audit_seq",
            "resolved_seq",
        )
        with self.reading() as conn:
            rows = conn.execute(sql + " ORDER BY r.id").fetchall()
        return [{**dict(zip(names, row, strict=True)), "resolved": bool(row[5])} for row in rows]

    def resolve_review(self, review_id: int, *, opt_out: bool, by: str, note: str | None) -> int:
        """A person's reading of a doubtful reply. An opt-out revokes consent on the whole
        channel from the moment the message came in; either way marketing resumes being
        decided by the consent on record."""
        if not by.strip():
            raise ValueError("say who resolved the review (by=)")
        if not 0 < review_id < 2**63:
            raise ValueError(f"there is no review {review_id}")
        with self.write():
            self._forget()
            row = self.conn.execute(
                "SELECT subject, channel, text, at, (SELECT 1 FROM review_resolutions x WHERE "
                "x.review = r.id) FROM reviews r WHERE id = ?",
                (review_id,),
            ).fetchone()
            if row is None:
                raise ValueError(f"there is no review {review_id}")
            sid, channel, text, message_at, resolved = row
            if resolved:
                raise ValueError(f"review {review_id} is resolved already")
            resolution = "opt_out" if opt_out else "not_opt_out"
            seq = self.next_seq()
            rows = {
                "review_resolutions": audit.rows_digest(
                    self._insert(
                        "review_resolutions", [(review_id, resolution, printable(by))], seq
                    )
                )
            }
            if opt_out:
                when = self._after_grants(
                    sid, channel, None, dt.datetime.fromisoformat(message_at), stored=True
                )
                event = (
                    sid,
                    channel,
                    None,
                    "revoke",
                    f"review:{review_id}",
                    when.isoformat(),
                    micros(when),
                    None,
                    printable(
                        json.dumps({"text": text, "by": by}, sort_keys=True, ensure_ascii=False)
                    ),
                )
                rows["consent_events"] = audit.rows_digest(
                    self._insert("consent_events", [event], seq)
                )
            return self.audit(
                kind="review.resolve",
                subject=None,
                data={
                    "review": review_id,
                    "subject": sid,
                    "channel": channel,
                    "resolution": resolution,
                    "by": by,
                    "note": note,
                    "message_at": message_at,
                    "rows": rows,
                },
                channel=channel,
            )

    def sends_near(self, subject: str, since_us: int, until_us: int) -> list[tuple[Any, ...]]:
        """Allowed sends to the subject scheduled in (since_us, until_us), as (purpose,
        channel, at_us), this transaction's included. In a batch the prefetch must cover the
        span."""
        sid = self.sid(subject)
        rows = [r for r in self._fresh.get(sid, ()) if since_us < r[2] < until_us]
        batch = self._batch
        if (
            batch is not None
            and sid in batch["subjects"]
            and batch["span"][0] <= since_us
            and until_us <= batch["span"][1]
        ):
            return rows + [r for r in batch["allowed"].get(sid, ()) if since_us < r[2] < until_us]
        days = ",".join(map(str, range(since_us // DAY_US, until_us // DAY_US + 1)))
        found = self.conn.execute(
            f"SELECT purpose, channel, at_us FROM recent_sends WHERE day IN ({days}) AND "
            "subject = ? AND at_us > ? AND at_us < ?",
            (sid, since_us, until_us),
        ).fetchall()
        return rows + found
