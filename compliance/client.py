"""A small typed client for `compliance serve`: Gate.check and Gate.check_many over HTTP.

    from compliance.client import Client
    from compliance import Send

    gate = Client("https://gate.internal:8000", token=os.environ["COMPLIANCE_API_KEY"])
    decision = gate.check(Send(to="+14155550123", template="10dlc-weekend-sale"))
    if decision.allowed:
        ...

It answers the Decision the library answers, and fails closed as the library does: when the
service cannot be reached, times out, answers with a server error or a proxy's error, or
answers something that is not a whole decision, the answer is a deny with reason
`gate.unreachable` (never an exception a caller might catch and send anyway). A request the
service refuses as wrong (a bad key, a missing scope, a malformed send: 400, 401, 403, 404,
405, 413, 415, 422) raises ClientError: that is a bug to fix, not a send to decide.

Standard library only (http.client): it adds nothing to what the library installs. One Client
may be shared by threads; each thread keeps its own connection.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from compliance.gate.model import DENY, Decision, Reason, Send

GATE_UNREACHABLE = "gate.unreachable"  # the client's own reason code: no answer from the service
MAX_BATCH = 1000
# statuses that mean the request itself is wrong (a bug to fix, raised); any other answer but
# a decision (5xx, a proxy's 408 or 429, a redirect) is no decision: a deny
REFUSED = frozenset({400, 401, 403, 404, 405, 413, 415, 422})


class ClientError(Exception):
    """The service refused the request as wrong (4xx): its status and what it said."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Client:
    """The gate's HTTP API. `base_url`: where `compliance serve` listens; `token`: an API key
    with the decide scope; `timeout`: seconds per request (then a deny, gate.unreachable)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], not {base_url!r}")
        if not isinstance(token, str) or not token:
            raise ValueError("token is an API key: `compliance serve keys create`")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.timeout = timeout
        self._ssl = ssl_context
        self._local = threading.local()

    # the gate's two questions ------------------------------------------------------------------

    def check(self, send: Send) -> Decision:
        """One send's decision (audited by the service before it answers)."""
        body = _send_dict(send)
        found = self._post("/v1/check", body)
        decision = _decision(found, send) if found is not None else None
        return decision if decision is not None else _unreachable(send)

    def check_many(self, sends: Iterable[Send]) -> list[Decision]:
        """A batch's decisions, in order (at most 1,000 sends a request: larger batches are
        sent 1,000 at a time, each in its own transaction)."""
        items = list(sends)
        out: list[Decision] = []
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start : start + MAX_BATCH]
            found = self._post("/v1/check-many", {"sends": [_send_dict(s) for s in chunk]})
            listed = found.get("decisions") if found is not None else None
            decided = (
                [_decision(d, s) for d, s in zip(listed, chunk, strict=True)]
                if isinstance(listed, list) and len(listed) == len(chunk)
                else [None] * len(chunk)
            )
            out += [
                d if d is not None else _unreachable(s) for d, s in zip(decided, chunk, strict=True)
            ]
        return out

    def health(self) -> dict[str, Any]:
        """/healthz: {"status": "ok" or "fault", "ledger": ..., "catalog": ...}."""
        status, found = self._request("GET", "/healthz", None)
        if status not in (200, 503):
            raise ClientError(status, found)
        return found

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self._local.served = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # HTTP --------------------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer's JSON; None when there is no usable answer (fail closed)."""
        try:
            status, found = self._request("POST", path, body)
        except (OSError, http.client.HTTPException, ValueError):
            return None
        if status == 200 and isinstance(found, dict):
            return found
        if status in REFUSED:
            raise ClientError(status, found.get("detail") if isinstance(found, dict) else found)
        return None  # 5xx, a proxy's timeout or rate limit, a redirect: no decision

    def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in (1, 2):
            conn = self._conn()
            reused = getattr(self._local, "served", 0) > 0
            try:
                conn.request(method, self._prefix + path, body=data, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                self._local.served = getattr(self._local, "served", 0) + 1
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a kept-alive connection the server closed while idle: once more on a new
                # one. Only then: on a fresh connection the request may have been decided
                # (a retry would then decide it twice)
                self.close()
                if attempt == 2 or not reused:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        try:
            found = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            found = raw.decode("utf-8", "replace")[:2000]
        return response.status, found

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn


def _send_dict(send: Send) -> dict[str, Any]:
    if not isinstance(send, Send):
        raise TypeError(f"a send must be a Send, not {type(send).__name__}")
    out: dict[str, Any] = {"to": send.to, "template": send.template}
    for name in ("channel", "sender", "market", "timezone"):
        value = getattr(send, name)
        if value is not None:
            out[name] = value
    if send.at is not None:
        if not isinstance(send.at, dt.datetime) or send.at.utcoffset() is None:
            raise ValueError("Send.at must be an aware datetime")
        out["at"] = send.at.isoformat()
    return out


def _reason(found: Any) -> Reason:
    if not isinstance(found, dict):
        raise ValueError("a reason is an object")
    code, message = found.get("code"), found.get("message")
    market, citation = found.get("market"), found.get("citation")
    if not isinstance(code, str) or not isinstance(message, str):
        raise ValueError("a reason has a code and a message")
    if not all(v is None or isinstance(v, str) for v in (market, citation)):
        raise ValueError("a reason's market and citation are text")
    return Reason(code, message, market, citation)


def _decision(found: Any, send: Send) -> Decision | None:
    """The decision in an answer, or None when the answer is not one the gate gives: an
    allow is believed only whole (its outcome, allowed true, no reasons, the audit entry that
    recorded it), so a mock, a misrouted URL or a proxy's page is never taken for one."""
    try:
        if not isinstance(found, dict):
            raise ValueError("not an object")
        outcome, allowed, ident = found.get("outcome"), found.get("allowed"), found.get("id")
        reasons = tuple(_reason(r) for r in _listed(found.get("reasons")))
        warnings = tuple(_reason(r) for r in _listed(found.get("warnings")))
        not_before = found.get("not_before")
        when = None
        if not_before is not None:
            if not isinstance(not_before, str):
                raise ValueError("not_before is text")
            when = dt.datetime.fromisoformat(not_before)
            if when.utcoffset() is None:
                raise ValueError("not_before has no offset")
        if ident is not None and (type(ident) is not int or ident < 1):
            raise ValueError("id is an audit entry")
        if outcome == "allow":
            if allowed is not True or reasons or ident is None:
                raise ValueError("an allow is whole")
        elif outcome in ("deny", "defer"):
            if allowed is not False or not reasons:
                raise ValueError("a deny or defer says why")
        else:
            raise ValueError("unknown outcome")
    except (ValueError, TypeError, OverflowError):
        return None
    return Decision(outcome, reasons, when, ident, warnings, send)


def _listed(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("a list")
    return value


def _unreachable(send: Send) -> Decision:
    reason = Reason(
        GATE_UNREACHABLE,
        "no answer from the compliance service (unreachable, timed out or failing): denied, "
        "as the gate denies when its ledger cannot be used",
    )
    return Decision(DENY, (reason,), send=send)


__all__ = ["Client", "ClientError", "GATE_UNREACHABLE"]
