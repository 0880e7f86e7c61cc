"""The contract every check kind meets, and what it receives."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from compliance.findings import Span

if TYPE_CHECKING:
    from compliance.findings import Finding
    from compliance.loader import SourceFile
    from compliance.packs import Market
    from compliance.validation import Document


class CheckParams(BaseModel):
    """Base of each kind's parameters: unknown parameters are pack errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


@dataclass(slots=True)
class Hit:
    """What a check reports; the engine stamps rule id, severity, market and citation."""

    message: str
    path: tuple[Any, ...] = ()  # where in the document's data
    key: bool = False  # point at the mapping key rather than its value
    text: tuple[int, int] | None = None  # character range within the string at `path`
    span: Span | None = None  # an explicit place (file-level problems)
    content: str = ""  # the offending value: part of the finding's line-independent key
    cause: str | None = None  # what the finding is about, for the citation that fits it
    # the source, where the check knows it better than the rule's list (a fallback's finding
    # cites the rule the fallback breaks)
    citation: Any = None


# 10DLC use cases The Campaign Registry reserves for messages that sell nothing: a 501(c)(3)
# charity's, and a political campaign's (vetted by Campaign Verify)
NONCOMMERCIAL_USE_CASES = frozenset({"CHARITY", "POLITICAL"})


@dataclass
class RepoIndex:
    """Every document of the repo, for references and duplicates across files.

    In a large repo the documents are released (validation.Document.release): what a check
    reads of another document (kind, id, path, data, a sender's or scope's model) is at hand,
    while a template's model and any place in another document are built again when asked for.
    Documents stay the same objects for the whole run, so identity (`is`, `id()`) holds.
    """

    by_kind: dict[str, dict[str, list[Document]]] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)

    def add(self, doc: Document) -> None:
        self.add_stub(doc, doc.kind, doc.id)

    def add_stub(self, doc: Document, kind: str, ident: str | None) -> None:
        """`add`, given the kind and id a stub from the lint cache knows (not asked of it)."""
        self.documents.append(doc)
        if ident is not None:
            ids = self.by_kind.get(kind)
            if ids is None:
                ids = self.by_kind[kind] = {}
            found = ids.get(ident)
            if found is None:
                ids[ident] = [doc]
            else:
                found.append(doc)

    _users: dict[tuple[str, str], list[Document]] | None = None
    _effective: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    # While the lint cache records what checking a document reads of the others, the keys of
    # what was read: ("get", kind, id) for the documents with that id, ("users", kind, id) for
    # the templates that name a sender or scope, ("ids", kind) for every id of a kind, and
    # ("today",) for the date. Every read of another document goes through these methods.
    reads: set[tuple[str, ...]] | None = None

    def get(self, kind: str, ident: str) -> Document | None:
        if self.reads is not None:
            self.reads.add(("get", kind, ident))
        found = self.by_kind.get(kind, {}).get(ident)
        return found[0] if found else None

    def all(self, kind: str, ident: str) -> list[Document]:
        """Every document of this kind with this id, in the order of their files."""
        if self.reads is not None:
            self.reads.add(("get", kind, ident))
        return self.by_kind.get(kind, {}).get(ident, [])

    def ids(self, kind: str) -> list[str]:
        """Every id of a kind, in the order of their files."""
        if self.reads is not None:
            self.reads.add(("ids", kind))
        return list(self.by_kind.get(kind, {}))

    def note_today(self) -> None:
        if self.reads is not None:
            self.reads.add(("today",))

    def users_of(self, doc: Document) -> list[Document]:
        """The templates that name this sender or consent scope."""
        if self.reads is not None:
            self.reads.add(("users", doc.kind, doc.id or ""))
        return self.users(doc.kind, doc.id or "")

    def users(self, kind: str, ident: str) -> list[Document]:
        """The templates that name the sender or consent scope `ident` (not a read: see
        users_of)."""
        if self._users is None:
            users: dict[tuple[str, str], list[Document]] = {}
            for template in self.by_kind.get("template", {}).values():
                for t in template:
                    for name in ("sender", "consent_scope"):
                        named = t.data.get(name)
                        if isinstance(named, str):
                            users.setdefault((name, named), []).append(t)
            self._users = users
        return self._users.get((kind, ident), [])

    def effective(self, doc: Document, axis: str) -> list[str]:
        """A document's markets, purposes or channels. A sender or consent scope that declares
        none is used for those of the templates that name it, and is checked for them."""
        if doc.kind == "template":
            # read from its own data: quicker than a cache that would hold three lists per
            # template of the repo (documents stay in the index for the whole run)
            return self._compute_effective(doc, axis)
        key = (id(doc), axis)
        found = self._effective.get(key)
        if found is None:
            found = self._effective[key] = self._compute_effective(doc, axis)
        elif self.reads is not None:  # computed for another document: read again, as it was
            self.reads.add(("users", doc.kind, doc.id or ""))
        return found

    def _compute_effective(self, doc: Document, axis: str) -> list[str]:
        data = doc.data
        if doc.kind == "template" or (doc.kind == "sender" and axis == "channels"):
            single = {"markets": None, "purposes": "purpose", "channels": "channel"}[axis]
            value = data.get(axis) if single is None else [data.get(single)]
            return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        declared = data.get(axis)
        if isinstance(declared, list) and declared:
            return [v for v in declared if isinstance(v, str)]
        found: list[str] = []
        for template in self.users_of(doc):
            for value in self.effective(template, axis):
                if value not in found:
                    found.append(value)
        return found

    def commercial(self, doc: Document) -> bool:
        """Whether the law that covers commercial messages only reaches a document: a template
        that declares `commercial: false` does not, nor one sent on a campaign registered for
        a non-commercial use (a charity's or a political campaign's, which The Campaign Registry
        reserves for them); a consent scope, when every template that uses it does not."""
        if doc.kind == "template":
            declared = doc.data.get("commercial")
            if isinstance(declared, bool):
                return declared
            ident = doc.data.get("sender")
            sender = self.get("sender", ident) if isinstance(ident, str) else None
            registrations = sender.data.get("registrations") if sender is not None else None
            return not (
                isinstance(registrations, dict)
                and any(
                    isinstance(r, dict) and r.get("use_case") in NONCOMMERCIAL_USE_CASES
                    for r in registrations.values()
                )
            )
        if doc.kind == "consent_scope":
            users = self.users_of(doc)
            return not users or any(self.commercial(t) for t in users)
        return True

    def brands(self, doc: Document) -> list[str]:
        """The brand names a document speaks for: a sender's own, a template's sender's, and
        for a consent scope those of the senders of the templates that use it."""
        if doc.kind == "sender":
            brand = doc.data.get("brand")
            if not isinstance(brand, str) or not brand:
                return []
            aliases = doc.data.get("brand_aliases")
            extra = (
                [a for a in aliases if isinstance(a, str) and a]
                if isinstance(aliases, list)
                else []
            )
            return [brand, *(a for a in extra if a != brand)]
        if doc.kind == "template":
            ident = doc.data.get("sender")
            sender = self.get("sender", ident) if isinstance(ident, str) else None
            return self.brands(sender) if sender is not None else []
        found: list[str] = []
        for template in self.users_of(doc):
            found.extend(b for b in self.brands(template) if b not in found)
        return found


@dataclass
class Context:
    index: RepoIndex
    market: Market | None = None  # the market whose pack enabled the rule; None for generic
    known_markets: frozenset[str] = frozenset()
    enforced: frozenset[str] | None = None  # markets to enforce; None: those documents name
    day: dt.date = field(default_factory=dt.date.today)  # read it as `today`
    # the findings the generic rules and a market's rules give a document, whether or not it
    # targets that market (a fallback is checked in the markets of the template that falls
    # back to it); with None, the generic rules' alone
    market_findings: Callable[[Document, str | None], list[Finding]] | None = None
    # every market with a pack, by code (a generic rule reads the markets a document targets)
    markets: dict[str, Market] = field(default_factory=dict)
    # what checks derive from their parameters and the packs alone, kept for the run (one
    # context per market per run): keyed by the check's own tuples
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def today(self) -> dt.date:
        """The date findings are judged on (a finding that depends on it is checked again on
        another day, not taken from the lint cache)."""
        self.index.note_today()
        return self.day


class DocumentCheck(Protocol):
    KIND: str
    SCOPE: str  # "document"
    Params: type[BaseModel]

    def check(self, doc: Document, params: Any, ctx: Context) -> Iterator[Hit]: ...


class FileCheck(Protocol):
    KIND: str
    SCOPE: str  # "file"
    Params: type[BaseModel]

    def check(self, source: SourceFile, params: Any, ctx: Context) -> Iterator[Hit]: ...


def text_fields(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string value in a document, with its path."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from text_fields(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from text_fields(value, (*path, i))


def field_values(data: Any, pattern: str) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Values at a dotted path; `*` stands for every item of a list or value of a mapping:
    `body`, `replies.stop`, `capture.*.text`, `registrations.whatsapp.category`."""
    parts = _parts(pattern)
    if "*" in parts:
        return _walk(data, list(parts), 0, ())
    value = data  # a path without `*` names one value at most: no walk
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return iter(())
        value = value[part]
    return iter(((parts, value),))


@lru_cache(maxsize=512)
def _parts(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def _walk(
    value: Any, parts: list[str], i: int, path: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    # a module function, not a closure: a closure that calls itself is a reference cycle, which
    # only the cycle collector frees, and the engine pauses it for the run (engine.lint)
    if i == len(parts):
        yield path, value
        return
    part = parts[i]
    if part == "*":
        items = (
            value.items()
            if isinstance(value, dict)
            else (enumerate(value) if isinstance(value, list) else ())
        )
        for key, item in items:
            yield from _walk(item, parts, i + 1, (*path, key))
    elif isinstance(value, dict) and part in value:
        yield from _walk(value[part], parts, i + 1, (*path, part))


def texts_at(data: Any, patterns: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    """Every string under the given field patterns (strings inside lists and mappings too)."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for pattern in patterns:
        for path, value in field_values(data, pattern):
            if isinstance(value, str):
                found.append((path, value))
            else:
                found.extend(text_fields(value, path))
    return found


def brand_pattern(brand: str) -> re.Pattern[str]:
    """The brand as written, matched whole and case-insensitively."""
    return re.compile(rf"(?<![\w]){re.escape(brand)}(?![\w])", re.IGNORECASE)
