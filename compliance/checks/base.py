"""The contract every check kind meets, and what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from compliance.findings import Span

if TYPE_CHECKING:
    from compliance.loader import SourceFile
    from compliance.packs import Market
    from compliance.validation import Document


class CheckParams(BaseModel):
    """Base of each kind's parameters: unknown parameters are pack errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class Hit:
    """What a check reports; the engine stamps rule id, severity, market and citation."""

    message: str
    path: tuple[Any, ...] = ()  # where in the document's data
    key: bool = False  # point at the mapping key rather than its value
    text: tuple[int, int] | None = None  # character range within the string at `path`
    span: Span | None = None  # an explicit place (file-level problems)
    content: str = ""  # the offending value: part of the finding's line-independent key


@dataclass
class RepoIndex:
    """Every document of the repo, for references and duplicates across files."""

    by_kind: dict[str, dict[str, list[Document]]] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)

    def add(self, doc: Document) -> None:
        self.documents.append(doc)
        if doc.id is not None:
            self.by_kind.setdefault(doc.kind, {}).setdefault(doc.id, []).append(doc)

    def get(self, kind: str, ident: str) -> Document | None:
        found = self.by_kind.get(kind, {}).get(ident)
        return found[0] if found else None


@dataclass
class Context:
    index: RepoIndex
    market: Market | None = None  # the market whose pack enabled the rule; None for generic
    known_markets: frozenset[str] = frozenset()
    enforced: frozenset[str] | None = None  # markets to enforce; None: those documents name


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
