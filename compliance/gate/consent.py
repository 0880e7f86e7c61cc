"""`gate.ledger`: consent grants, revocations, inbound replies and their reviews, do-not-contact
and reassigned-number imports. Every argument is checked before anything is written: a bad one
raises TypeError or ValueError naming it."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from compliance.documents import CHANNELS
from compliance.gate import keywords as kw
from compliance.gate.catalog import Catalog
from compliance.gate.ledger import Ledger
from compliance.gate.model import InboundResult, aware, printable, text_arg
from compliance.gate.recipient import PHONE_CHANNELS, InvalidRecipient, parse, possible, readings


def did_you_mean(value: Any, known: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest known name, or nothing."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class ConsentLedger:
    def __init__(self, catalog: Catalog, db: Ledger) -> None:
        self._catalog = catalog
        self._db = db

    # consent ---------------------------------------------------------------------------------

    def grant(
        self,
        *,
        subject: str,
        channel: str,
        scope: str,
        source: str,
        at: dt.datetime,
        evidence: dict[str, Any] | None = None,
    ) -> int:
        """Record consent to `scope` on `channel`, given at `at` (never later than now).
        Returns the audit entry."""
        event = self._event("grant", subject, channel, scope, source, at, evidence)
        return self._db.record_consents([event])[0]

    def revoke(
        self, *, subject: str, channel: str, scope: str | None = None, source: str, at: dt.datetime
    ) -> int:
        """Record a withdrawal: of one scope, or (scope=None) of everything on the channel,
        which on SMS also covers MMS."""
        event = self._event("revoke", subject, channel, scope, source, at, None)
        return self._db.record_consents([event])[0]

    def record_many(self, events: list[dict[str, Any]]) -> list[int]:
        """Grants and revocations (dicts with the keywords of grant() and revoke() plus
        action="grant" or "revoke"), all checked first and written in one transaction: one
        bad event raises ValueError naming it, and nothing is written."""
        return self._db.record_consents(self.checked(events))

    def checked(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events as record_many() writes them, or ValueError naming the first bad one
        (event 1 is the first); writes nothing."""
        prepared = []
        for number, event in enumerate(events, 1):
            try:
                if not isinstance(event, dict):
                    raise TypeError(f"must be a dict, not {type(event).__name__}")
                action = event.get("action")
                if action not in ("grant", "revoke"):
                    raise ValueError(f"action must be grant or revoke, not {action!r}")
                if event.get("at") is None:
                    raise ValueError(
                        "at is missing: give the time with an offset, e.g. 2026-11-26T15:00:00Z"
                    )
                prepared.append(
                    self._event(
                        action,
                        event.get("subject"),
                        event.get("channel"),
                        event.get("scope") or None,
                        event.get("source"),
                        event.get("at"),
                        event.get("evidence"),
                    )
                )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"event {number}: {exc}") from None
        return prepared

    def _event(
        self,
        action: str,
        subject: Any,
        channel: Any,
        scope: Any,
        source: Any,
        at: Any,
        evidence: Any,
    ) -> dict[str, Any]:
        who = self._subject(subject, channel)
        if action == "revoke" and isinstance(scope, str) and not scope.strip():
            scope = None  # an empty scope revokes everything on the channel: never less
        text_arg(scope, "scope", optional=action == "revoke")
        text_arg(source, "source")
        when = aware(at, "at")
        known = self._catalog.scopes.get(scope) if scope is not None else None
        if scope is not None and known is None:
            raise ValueError(
                f"unknown consent scope {scope!r}: define it in the repo first"
                + did_you_mean(scope, self._catalog.scopes)
            )
        if known is not None and known.channels and channel not in known.channels:
            raise ValueError(
                f"consent scope {scope!r} covers {', '.join(known.channels)}, not {channel}: "
                f"a {action} must be on a channel its scope covers (revoke every scope on "
                f"{channel} without scope=)"
            )
        if evidence is not None:
            if not isinstance(evidence, dict):
                raise TypeError(f"evidence must be a dict, not {type(evidence).__name__}")
            try:  # what JSON readers accept: no NaN or Infinity, not nested without end
                text = json.dumps(evidence, allow_nan=False, sort_keys=True)
                same = json.loads(text) == evidence
            except (TypeError, ValueError) as exc:
                raise TypeError(f"evidence must be JSON: {exc}") from None
            except RecursionError:
                raise TypeError("evidence must be JSON: it is nested too deeply") from None
            if not same:  # {1: "a"} would be stored as {"1": "a"}, a tuple as a list
                raise TypeError(
                    "evidence must be JSON as it is: text keys only, lists rather than tuples"
                )
        return {
            "subject": who,
            "channel": channel,
            "scope": scope,
            "action": action,
            "source": source,
            "at": when,
            "capture_digest": _capture_digest(known) if action == "grant" and known else None,
            "evidence": evidence,
        }

    def history(self, subject: str, channel: str | None = None) -> list[dict[str, Any]]:
        text_arg(subject, "subject")
        if channel is not None:
            text_arg(channel, "channel")
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        return self._db.history(parse(subject, channel).subject)

    def erase(self, subject: str) -> int:
        """Remove the subject's raw identifier (ledgers that pseudonymise subjects); a hashed
        suppression keeps them from being messaged again, and nothing writes the identifier
        back."""
        text_arg(subject, "subject")
        return self._db.erase(parse(subject).subject)

    # inbound replies and reviews -------------------------------------------------------------

    def inbound(
        self,
        *,
        subject: str,
        text: str,
        channel: str,
        sender: str | None = None,
        at: dt.datetime,
        after_prompt: bool = False,
        message: tuple[str, str] | None = None,
        replay_keys: tuple[tuple[str, str], ...] = (),
    ) -> InboundResult:
        """Record a reply and what it means: an opt-out revokes consent on the channel, a
        doubtful one holds marketing until a person resolves it. An unknown sender does not
        stop the reply being recorded (a STOP is never lost); it only has no reply text.
        `message`: (provider, the provider's message id) of a webhook's message, recorded
        once whatever the retries: a retry is answered with what was recorded the first
        time (InboundResult.replayed) and writes nothing. `replay_keys`: more (provider, id)
        pairs that make a message a replay when recorded before (a request's signature, which
        no re-cut of the same signed request can change)."""
        if message is not None:
            for key in (message, *replay_keys):
                if not (
                    isinstance(key, tuple)
                    and len(key) == 2
                    and all(isinstance(part, str) and part.strip() for part in key)
                ):
                    raise TypeError(
                        "message and replay_keys are (provider, message id), two non-empty strings"
                    )
                if any(printable(part) != part for part in key):
                    raise ValueError("a message id must not hold NUL characters or lone surrogates")
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        if not isinstance(after_prompt, bool):
            raise TypeError("after_prompt must be True or False")
        if sender is not None and not isinstance(sender, str):
            raise TypeError(f"sender must be a string, not {type(sender).__name__}")
        sender = sender.strip() or None if sender else None  # an empty one loses no STOP
        sending = self._catalog.senders.get(sender or "")
        text_arg(subject, "subject")
        text_arg(channel, "channel")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        # a provider may hand over the number without its + or in national form: read it as
        # a number of each of the sender's markets
        # a number without its + is read as a number of each market the sender serves (the
        # repo's markets when the sender is unknown): an opt-out is then recorded for every
        # reading, never guessed into one country ("3212345678" is a US number and a Belgian)
        regions = list(sending.markets) if sending else self._countries()
        try:
            found = readings(subject, channel, regions)
        except InvalidRecipient:
            # a STOP is never lost for want of reading its sender: a number in international
            # form (with its +) that the numbering data does not know (yet) is kept as it is
            lenient = (
                possible(subject)
                if channel in PHONE_CHANNELS and subject.strip().startswith(("+", "\uff0b"))
                else None
            )
            if lenient is None:
                raise
            found = [lenient]
        when = aware(at, "at")
        text = printable(text)
        # with no market (an email address), every market's words count
        others = [p.keywords for p in self._catalog.markets.values() if p.keywords]
        actions = []
        for recipient in found:
            params = self._catalog.markets.get(recipient.market or "")
            actions.append(
                kw.classify(
                    text,
                    params.keywords if params else None,
                    after_prompt=after_prompt,
                    extra=others,
                )
            )
        stopping = all(a in (kw.OPT_OUT, kw.REVIEW) for a in actions)
        if stopping and channel in PHONE_CHANNELS:
            # and for the number the digits spell in international form, should the
            # numbering data not know it yet (more opt-outs than needed are harmless)
            extra = possible(subject)
            if extra is not None and extra.subject not in {r.subject for r in found}:
                found.append(extra)
                actions.append(kw.classify(text, None, after_prompt=after_prompt, extra=others))
                stopping = actions[-1] in (kw.OPT_OUT, kw.REVIEW)
                if not stopping:
                    found.pop()
                    actions.pop()
                    stopping = True
        if len(found) > 1 and not stopping:
            # an opt-out is recorded for every number it may be from (none is lost); anything
            # else needs to know whose it is
            raise InvalidRecipient(
                f"{subject!r} may be any of {', '.join(r.subject for r in found)} for sender "
                f"{sender!r}: hand the number over in international form (+ and country code)"
            )
        replies = sending.replies if sending is not None else {}
        action = actions[0]
        reply = {
            kw.OPT_OUT: replies.get("stop"),
            kw.OPT_IN: replies.get("start"),
            kw.HELP: replies.get("help"),
        }.get(action)
        if message is not None:
            action, reply, seq, replayed = self._db.record_webhook(
                provider=message[0],
                message_id=message[1],
                readings=[(r.subject, a) for r, a in zip(found, actions, strict=True)],
                channel=channel,
                sender=sender,
                text=text,
                reply=reply,
                at=when,
                also=tuple(replay_keys),
            )
            return InboundResult(action, reply, seq, replayed)
        seq = None
        for recipient, each in zip(found, actions, strict=True):
            written = self._db.record_inbound(
                subject=recipient.subject,
                channel=channel,
                sender=sender,
                text=text,
                action=each,
                at=when,
            )
            seq = written if seq is None else seq
        return InboundResult(action, reply, seq)

    def _countries(self) -> list[str]:
        """The countries of the repo's markets (a market like EU names none)."""
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        return sorted(code for code in self._catalog.markets if code in known)

    def reviews(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Replies that might be opt-outs and wait for a person (marketing to their senders
        is held meanwhile), oldest first; with include_resolved, the resolved ones too."""
        if not isinstance(include_resolved, bool):
            raise TypeError("include_resolved must be True or False")
        return self._db.reviews(include_resolved=include_resolved)

    def resolve(self, review: int, *, opt_out: bool, by: str, note: str | None = None) -> int:
        """Record a person's reading of a doubtful reply: opt_out=True revokes consent on the
        whole channel from when the message came in; False lets consent on record decide
        again. Returns the audit entry."""
        if isinstance(review, bool) or not isinstance(review, int):
            raise TypeError(f"review must be an id (int), not {type(review).__name__}")
        if not isinstance(opt_out, bool):
            raise TypeError("opt_out must be True or False")
        text_arg(by, "by")
        text_arg(note, "note", optional=True)
        return self._db.resolve_review(review, opt_out=opt_out, by=by, note=note)

    # lists -----------------------------------------------------------------------------------

    def import_dnc(
        self,
        name: str,
        entries: Iterable[str | tuple[str, str | None]],
        *,
        registry: str | None = None,
        checked_at: dt.datetime | None = None,
    ) -> int:
        """Add phone numbers and email addresses to do-not-contact list `name` (each entry a
        string, or (string, when it was added)). A national registry (`registry`: its market,
        e.g. "US", or a state's own list: "US-TX") lists numbers only and records when it
        was checked (`checked_at`, default now). Every entry is checked first: one that
        cannot be honoured raises ValueError naming it, and nothing is written."""
        text_arg(name, "name")
        if "\x00" in name:  # a list is found by its name: stored escaped, it would differ
            raise ValueError("name holds a NUL character: name the list in printable text")
        text_arg(registry, "registry", optional=True)
        if registry is not None:
            from compliance.countries import ISO_3166_ALPHA2

            country, _, sub = registry.upper().partition("-")
            if country not in ISO_3166_ALPHA2 or (sub and not _subdivision(country, sub)):
                raise ValueError(
                    f"registry {registry!r} is not a market code (US) or a state's (US-TX)"
                )
        if checked_at is not None:
            aware(checked_at, "checked_at")
        rows = [
            dnc_entry(entry, registry is not None, f"entry {number}")
            for number, entry in enumerate(_iterable(entries, "entries"), 1)
        ]
        return self._db.import_dnc(
            name,
            rows,
            registry_market=registry.upper() if registry else None,
            checked_at=checked_at,
        )

    def import_reassigned(self, rows: Iterable[tuple[str, dt.datetime]]) -> int:
        """Numbers and when they were disconnected (e.g. from the US Reassigned Numbers
        Database): consent given before the disconnection no longer counts."""
        checked = []
        for number, row in enumerate(_iterable(rows, "rows"), 1):
            value, when = _pair(row, f"row {number}")
            try:
                found = parse(value)
            except InvalidRecipient as exc:
                raise ValueError(f"row {number}: {exc}") from None
            if not found.is_phone:
                raise ValueError(f"row {number}: {value!r} is not a phone number")
            checked.append((found.subject, aware(when, f"row {number}: disconnected")))
        return self._db.import_reassigned(checked)

    def _subject(self, subject: Any, channel: Any, region: str | None = None) -> str:
        text_arg(subject, "subject")
        text_arg(channel, "channel")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        return parse(subject, channel, region).subject


def dnc_entry(entry: Any, registry: bool, where: str) -> tuple[str, str | None]:
    """One do-not-contact entry as stored (the subject, when it was added), or ValueError
    naming it: something neither a number nor an address cannot be honoured, and a national
    registry lists numbers only."""
    value, added = (entry, None) if isinstance(entry, str) else _pair(entry, where)
    if isinstance(added, dt.datetime):
        added = aware(added, f"{where}: added").isoformat()
    elif added is not None and not isinstance(added, str):
        raise TypeError(f"{where}: when it was added must be a datetime or text")
    try:
        found = parse(value)
    except InvalidRecipient as exc:
        raise ValueError(f"{where}: {exc}") from None
    if registry and not found.is_phone:
        raise ValueError(
            f"{where}: {value!r} is not a phone number; a national registry lists numbers "
            "(put addresses on a list of your own)"
        )
    return found.subject, added or None


def _iterable(value: Any, name: str) -> list[Any]:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list, not {type(value).__name__}")
    return list(value)


def _pair(value: Any, where: Any) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not isinstance(value[0], str):
        raise TypeError(f"{where} must be a string or a (string, value) pair, not {value!r}")
    return value[0], value[1]


def _capture_digest(scope: Any) -> str | None:
    """What a grant records of the consent text shown: the sha256 of each capture text."""
    digests = [hashlib.sha256(c.text.encode("utf-8")).hexdigest() for c in scope.capture]
    return ",".join(digests) or None


def _subdivision(country: str, sub: str) -> bool:
    from compliance.gate.recipient import known_regions

    return f"{country}-{sub}" in known_regions()
