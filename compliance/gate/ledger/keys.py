"""The service's API keys, kept in the ledger so that every host running `compliance serve`
sees a new key or a revocation at its next request.

A key is a random 256-bit token shown once when it is made; the ledger keeps its SHA-256
(a token that long needs no slow hash: there is nothing to guess), its id (which audit entries
name, never the token), a name, and its scopes. Keys are revoked, never deleted: the tables
are covered like every other a decision reads, and an entry names who made or revoked each.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from compliance.gate import audit
from compliance.gate.model import printable, text_arg

# what a key may do: decide sends; record consent (grants, revocations, replies, and read a
# subject's history); administer (reviews, pauses)
SCOPES = ("decide", "consent", "admin")
TOKEN_PREFIX = "cmpl_"
_TOKEN = re.compile(r"cmpl_[A-Za-z0-9_-]{43}")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def checked_scopes(scopes: Iterable[str]) -> list[str]:
    if isinstance(scopes, str):
        scopes = [scopes]
    found = sorted(set(scopes))
    if not found:
        raise ValueError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    unknown = [s for s in found if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {', '.join(map(repr, unknown))}; use {', '.join(SCOPES)}")
    return found


class Keys:
    """API keys: made, listed, revoked, and looked up by token."""

    # runs on a storage backend: what it provides is store.Store (sqlite.py is one)

    def create_key(
        self, *, name: str, scopes: Iterable[str], by: str
    ) -> tuple[dict[str, Any], str]:
        """A new key: (its record, the token). The token is not stored and cannot be shown
        again."""
        text_arg(name, "name")
        text_arg(by, "by")
        found = checked_scopes(scopes)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(6)
        with self.write():
            self._forget()
            seq = self.next_seq()
            row = (
                key_id,
                printable(name),
                ",".join(found),
                token_digest(token),
                self.now_iso,
                printable(by),
            )
            whole = self._insert("api_keys", [row], seq)
            self.audit(
                kind="key.create",
                subject=None,
                data={
                    "key": key_id,
                    "name": name,
                    "scopes": found,
                    "by": by,
                    "rows": {"api_keys": audit.rows_digest(whole)},
                },
            )
        return {
            "id": key_id,
            "name": printable(name),
            "scopes": found,
            "created_at": self.now_iso,
            "created_by": printable(by),
            "audit_seq": seq,
        }, token

    def api_keys(self) -> list[dict[str, Any]]:
        """Every key, oldest first, with its revocation if it has one."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT k.key_id, k.name, k.scopes, k.created_at, k.created_by, k.audit_seq, "
                "r.by, r.reason, r.audit_seq FROM api_keys k LEFT JOIN api_key_revocations r "
                "ON r.key_id = k.key_id ORDER BY k.id"
            ).fetchall()
        return [
            {
                "id": row[0],
                "name": row[1],
                "scopes": row[2].split(","),
                "created_at": row[3],
                "created_by": row[4],
                "audit_seq": row[5],
                "revoked": row[8] is not None,
                "revoked_by": row[6],
                "revoked_reason": row[7],
                "revoked_seq": row[8],
            }
            for row in rows
        ]

    def revoke_key(self, key_id: str, *, by: str, reason: str) -> int:
        """Revoke a key (at every host's next request); returns the audit entry."""
        text_arg(key_id, "key id")
        text_arg(by, "by")
        text_arg(reason, "reason")
        with self.write():
            self._forget()
            row = self.conn.execute(
                "SELECT k.key_id, r.key_id FROM api_keys k LEFT JOIN api_key_revocations r ON "
                "r.key_id = k.key_id WHERE k.key_id = ?",
                (key_id,),
            ).fetchone()
            if row is None:
                raise ValueError(
                    f"there is no key {key_id!r}: `compliance serve keys list` shows them"
                )
            if row[1] is not None:
                raise ValueError(f"key {key_id!r} is revoked already")
            seq = self.next_seq()
            whole = self._insert(
                "api_key_revocations", [(key_id, printable(by), printable(reason))], seq
            )
            return self.audit(
                kind="key.revoke",
                subject=None,
                data={
                    "key": key_id,
                    "by": by,
                    "reason": reason,
                    "rows": {"api_key_revocations": audit.rows_digest(whole)},
                },
            )

    def key_for(self, token: str) -> dict[str, Any] | None:
        """The key a bearer token is, if it is one that is not revoked: {id, name, scopes}."""
        if not isinstance(token, str) or not looks_like_token(token):
            return None
        with self.reading() as conn:
            row = conn.execute(
                "SELECT k.key_id, k.name, k.scopes FROM api_keys k WHERE k.token_sha256 = ? AND "
                "NOT EXISTS (SELECT 1 FROM api_key_revocations r WHERE r.key_id = k.key_id)",
                (token_digest(token),),
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "scopes": row[2].split(",")}
