"""From a YAML document to a validated Document, with schema problems a person can act on."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from compliance.documents import KINDS, MODELS, cross_field_problems
from compliance.errors import LocatedError
from compliance.findings import Span
from compliance.loader import YamlDocument, node_span, read_file


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    path: tuple[Any, ...]  # where in the data
    message: str
    key: bool = False  # point at the key (unknown fields) rather than the value


class Document:
    """A template, sender or consent_scope, with its source and (when valid) its model.

    Documents stay in the repo index for the whole run. To keep a large repo in memory,
    `release()` drops what the document can build again when asked: its node tree (see
    YamlDocument) and, for a template, its model, which is validated again from the plain data
    when asked for (the models are frozen and validated without context: the same data gives
    an equal model). Senders and consent scopes keep their models: they are few, and every
    template's checks ask for its sender's and scope's. `hold()` keeps what is rebuilt until
    the next `release()`: the engine holds the document it is checking.
    """

    __slots__ = ("_yaml", "kind", "problems", "_model", "_valid", "dropped", "_stub")

    def __init__(
        self,
        yaml: YamlDocument,
        kind: str,
        model: Any = None,
        problems: list[SchemaProblem] | None = None,
    ) -> None:
        self._yaml: YamlDocument | None = yaml
        self.kind = kind
        self.problems = [] if problems is None else problems
        self._model = model  # TemplateModel | SenderModel | ConsentScopeModel
        self._valid = model is not None
        # fields left out of the model because their values are wrong (see _partial)
        self.dropped: frozenset[str] = frozenset()
        self._stub: Summary | None = None

    @classmethod
    def stub(cls, kind: str, valid: bool, summary: Summary) -> Document:
        """A document known from the lint cache by its summary (kind, validity and the fields
        other documents read of it, see SUMMARY_FIELDS): the file it is in has not changed
        since it was checked. Anything else asked of it (another field, its model, a place)
        reads it from its file again, once, and it is then a document like any other."""
        doc = cls.__new__(cls)
        doc._yaml = None
        doc.kind = kind
        doc.problems = []
        doc._model = None
        doc._valid = valid
        doc.dropped = frozenset()
        doc._stub = summary
        return doc

    @property
    def yaml(self) -> YamlDocument:
        found = self._yaml
        return found if found is not None else self._read_again()

    @property
    def is_stub(self) -> bool:
        """Known from the cache only, not read from its file in this run (yet)."""
        return self._yaml is None

    def _read_again(self) -> YamlDocument:
        stub = self._stub
        assert stub is not None
        real = stub.read()
        if real.kind != self.kind or real.valid != self._valid:
            raise FileChangedError(stub.path)
        self._yaml = real._yaml
        self.problems = real.problems
        self.dropped = real.dropped
        if self.kind != "template":  # as a released document keeps them (see release)
            self._model = real._model
        assert self._yaml is not None
        return self._yaml

    def __repr__(self) -> str:
        where = self._stub.path if self._yaml is None and self._stub else self.path
        return f"Document({self.kind} {self.id!r} at {where}, valid={self.valid})"

    @property
    def model(self) -> Any:
        """The validated model, None when the document is invalid."""
        model = self._model
        if model is None and self._valid:
            yaml = self.yaml
            model = MODELS[self.kind].model_validate(_without(yaml.data, self.dropped))
            if yaml.held or self.kind != "template":
                self._model = model
        return model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = model
        self._valid = model is not None

    def release(self) -> None:
        """Drop the node tree and, for a template, the model: both come back on demand."""
        if self._yaml is None:
            return  # a stub holds neither
        self._yaml.release()
        if self.kind == "template":
            self._model = None

    def hold(self) -> None:
        """Keep a tree or model built again on demand until the next `release()`."""
        self.yaml.hold()

    @property
    def data(self) -> Any:
        """The plain data (a dict); for a stub, a mapping that answers the summary's fields
        and reads the file again for any other."""
        found = self._yaml
        if found is None:
            assert self._stub is not None
            return self._stub.data(self)
        return found.data

    @property
    def id(self) -> str | None:
        if self._yaml is None and self._stub is not None:
            return self._stub.ident
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    @property
    def path(self) -> str:
        if self._yaml is None and self._stub is not None:
            return self._stub.path  # a stub knows where it is without reading its file
        return self.yaml.source.rel

    @property
    def valid(self) -> bool:
        return self._valid

    def span(self, path: tuple[Any, ...] = (), key: bool = False) -> Span:
        if not path:
            return self.head_span()
        return self.yaml.span(path, key=key)

    def text_span(self, path: tuple[Any, ...], start: int, end: int) -> Span:
        return self.yaml.text_span(path, start, end)

    def head_span(self) -> Span:
        """The document's first line: where 'the document as a whole' findings go."""
        root = self.yaml.tree()
        node = self.yaml.node_at(("kind",), key=True, root=root)
        if node is root:
            span = node_span(self.yaml.source, root)
            return Span(span.line, span.column, span.line, span.column + 1)
        return node_span(self.yaml.source, node)


# What other documents read of a document without checking it: its kind and id, the references
# a template makes (users_of), the fields a template's markets, channels and purposes come from
# (RepoIndex.effective), and whether it declares itself commercial. The lint cache keeps these
# per document, so that an unchanged file is not read again to be context for a changed one.
SUMMARY_FIELDS = (
    "kind",
    "id",
    "sender",
    "consent_scope",
    "markets",
    "channel",
    "channels",
    "purpose",
    "purposes",
    "commercial",
)


def summary_of(data: Any) -> dict[str, Any] | None:
    """The summary fields a document's data holds, when each is a plain value the cache can
    keep as it is (text, true or false, a list of texts); None when one is not."""
    out: dict[str, Any] = {}
    for name in SUMMARY_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None or isinstance(value, (str, bool)):
            out[name] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[name] = list(value)
        else:
            return None
    return out


class FileChangedError(LocatedError):
    """A file changed while it was being linted: what was read of it no longer holds."""

    def __init__(self, path: str) -> None:
        super().__init__("the file changed while it was being linted: run the lint again", path)


class Summary:
    """How a stub document (see Document.stub) answers for its data, and reads its file."""

    __slots__ = ("path", "ident", "_text", "_fields", "_reader", "_position", "_mapping")

    def __init__(self, path: str, ident: str | None, text: str, reader: Any, position: int) -> None:
        self.path = path  # as reports print it
        self.ident = ident  # its id, as Document.id gives it
        self._text = text  # the summary fields as JSON, read when first asked for
        self._fields: dict[str, Any] | None = None
        self._reader = reader  # .doc(position): the Document as parsed from the file now
        self._position = position
        self._mapping: _SummaryData | None = None

    @property
    def fields(self) -> dict[str, Any]:
        if self._fields is None:
            fields = json.loads(self._text)
            if not isinstance(fields, dict):
                raise ValueError("a summary of the wrong shape")
            self._fields = fields
        return self._fields

    def read(self) -> Document:
        return self._reader.doc(self._position)

    def data(self, doc: Document) -> Any:
        if self._mapping is None:
            self._mapping = _SummaryData(self, doc)
        return self._mapping


class _SummaryData(Mapping[str, Any]):
    """A stub's data: the summary fields at once, anything else from the file read again."""

    __slots__ = ("_summary", "_doc")

    def __init__(self, summary: Summary, doc: Document) -> None:
        self._summary = summary
        self._doc = doc

    def _whole(self) -> dict[str, Any]:
        return self._doc.yaml.data  # reads the file again, once

    def __getitem__(self, key: str) -> Any:
        if key in SUMMARY_FIELDS and self._doc.is_stub:
            return self._summary.fields[key]
        return self._whole()[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in SUMMARY_FIELDS and self._doc.is_stub:
            return self._summary.fields.get(key, default)
        return self._whole().get(key, default)

    def __contains__(self, key: object) -> bool:
        if key in SUMMARY_FIELDS and self._doc.is_stub:
            return key in self._summary.fields
        return key in self._whole()

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())


def classify(yaml_doc: YamlDocument) -> tuple[str | None, SchemaProblem | None]:
    """The document's kind, or None for YAML that is not ours (no kind, or another tool's kind)."""
    data = yaml_doc.data
    if not isinstance(data, dict) or "kind" not in data:
        return None, None
    kind = data["kind"]
    if kind in KINDS:
        return kind, None
    if isinstance(kind, str):
        # `kind: Deployment` is Kubernetes, not a typo: only near-misses of our kinds are flagged
        normal = kind.strip().lower().replace("-", "_").replace(" ", "_")
        near = difflib.get_close_matches(normal, KINDS, n=1, cutoff=0.75)
        if near or normal.rstrip("s") in KINDS:
            guess = near[0] if near else normal.rstrip("s")
            return guess, SchemaProblem(
                ("kind",),
                f"unknown kind {kind!r}: did you mean {guess!r}? (kinds are "
                "template, sender and consent_scope)",
            )
    return None, None


def validate(yaml_doc: YamlDocument) -> Document | None:
    kind, kind_problem = classify(yaml_doc)
    if kind is None:
        return None
    doc = Document(yaml_doc, kind)
    if kind_problem is not None:
        doc.problems.append(kind_problem)
        return doc
    model_cls = MODELS[kind]
    try:
        model = model_cls.model_validate(yaml_doc.data)
    except ValidationError as exc:
        doc.problems.extend(pydantic_problems(exc, yaml_doc.data, model_cls))
        model = None
    cross = cross_field_problems(kind, yaml_doc.data)
    doc.problems.extend(SchemaProblem(p, m, key=k) for p, m, k in cross)
    if model is not None and not cross:
        doc.model = model
    elif model is None and not cross:
        _partial(doc, model_cls)
    return doc


# Fields no rule reads to decide anything else about a document: a wrong value in one of them
# is reported (rule schema) without hiding the document's other findings, which the rules give
# with the field left out. A field other rules depend on (the sender, the body, the variables,
# an unknown key that may be a misspelt one) still stops them: their findings would be advice
# about a document that is not the one written.
_INDEPENDENT = {
    "template": frozenset({"status", "locale", "suppress"}),
    "sender": frozenset({"status", "suppress"}),
    "consent_scope": frozenset({"suppress"}),
}


def _partial(doc: Document, model_cls: type[BaseModel]) -> None:
    fields = {problem.path[0] for problem in doc.problems if problem.path}
    if not fields or any(not p.path for p in doc.problems):
        return
    data = doc.yaml.data
    if not fields <= _INDEPENDENT[doc.kind] or not fields <= set(data):
        return
    try:
        model = model_cls.model_validate(_without(data, frozenset(fields)))
    except ValidationError:
        return
    doc.dropped = frozenset(fields)
    doc.model = model


def _without(data: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in fields} if fields else data


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "date_type": "a date such as 2026-12-31",
    "date_parsing": "a date such as 2026-12-31",
    "none_required": "nothing",
    "date_from_datetime_inexact": "a date such as 2026-12-31 (without a time)",
}
_PATTERN_HINTS = {
    r"^[a-z0-9][a-z0-9_.-]*$": (
        "ids use lower-case letters, digits and . _ - and start with a letter or digit"
    ),
    r"^[a-z0-9_]+$": "use lower-case letters, digits and underscores only",
    r"^[a-z_]+$": "use lower-case letters and underscores only",
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"the date {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags from an error location, keeping real data keys."""
    path: list[Any] = []
    current = data
    for part in loc:
        if _has(current, part):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and part not in current and not _is_tag(part):
            path.append(part)  # a missing or unknown key: the next level down is not there
            break
    return tuple(path)


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part[:1].isupper()
        or "[" in part
        or part
        in {"str", "int", "float", "bool", "date", "list", "dict", "none", "constrained-str"}
    )


def _field_names(model_cls: type[BaseModel]) -> list[str]:
    names: set[str] = set()
    seen: set[type] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        names.update(cls.model_fields)
        for info in cls.model_fields.values():
            for sub in _models_in(info.annotation):
                walk(sub)

    walk(model_cls)
    return sorted(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    meta = getattr(annotation, "__metadata__", None)
    if meta is not None:
        found.extend(_models_in(getattr(annotation, "__origin__", None)))
    return found


def pydantic_problems(
    exc: ValidationError, data: Any, model_cls: type[BaseModel]
) -> list[SchemaProblem]:
    grouped: dict[tuple[Any, ...], list[tuple[str, bool, str]]] = {}
    for error in exc.errors(include_url=False):
        path = _data_path(tuple(error["loc"]), data)
        message, key = _message(error, path, model_cls)
        key = key or "[key]" in error["loc"]  # a bad mapping key: point at the key
        if error["type"] == "missing":
            path = path[:-1]  # point at the mapping that lacks the field
        grouped.setdefault(path, []).append((error["type"], key, message))
    problems: list[SchemaProblem] = []
    for path, errors in grouped.items():
        # a union member's type error is noise when another member got further down the path
        deeper = any(len(p) > len(path) and p[: len(path)] == path for p in grouped)
        if deeper:
            errors = [e for e in errors if e[0] not in _TYPE_WORDS]
            if not errors:
                continue
        messages = list(dict.fromkeys(m for _, _, m in errors))
        if len(messages) > 1 and all(t in _TYPE_WORDS for t, _, _ in errors):
            words = list(dict.fromkeys(_TYPE_WORDS[t] for t, _, _ in errors))
            value = _lookup(data, path)
            messages = [f"{_where(path)}expected {' or '.join(words)}, got {_describe(value)}"]
        problems.append(SchemaProblem(path, "; ".join(messages), key=errors[0][1]))
    return problems


def _lookup(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _where(path: tuple[Any, ...]) -> str:
    return f"{dotted(path)}: " if path else ""


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(
    error: dict[str, Any], path: tuple[Any, ...], model_cls: type[BaseModel]
) -> tuple[str, bool]:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        names = list(model_cls.model_fields) if len(path) == 1 else _field_names(model_cls)
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f": did you mean {near[0]!r}?" if near else ": remove it or check its spelling"
        return f"unknown field {name!r}{hint}", True
    if kind == "missing":
        name = str(path[-1]) if path else "?"
        parent = dotted(path[:-1])
        return f"missing required field {name!r}" + (f" in {parent}" if parent else ""), False
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if isinstance(value, (list, dict)):
            return (
                f"{_where(path)}expected one of: {', '.join(allowed)}; got {_describe(value)}",
                False,
            )
        near = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return (
            f"{_where(path)}{value!r} is not allowed{hint}; use one of: {', '.join(allowed)}"
        ), False
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(str(ctx.get("pattern")), f"must match {ctx.get('pattern')}")
        return f"{_where(path)}{value!r} is not valid: {hint}", False
    if kind in ("string_too_short", "too_short"):
        return f"{_where(path)}must not be empty", False
    if kind == "string_too_long":
        return f"{_where(path)}is longer than {ctx.get('max_length')} characters", False
    if kind in ("less_than", "less_than_equal"):
        limit = ctx.get("lt", ctx.get("le"))
        return f"{_where(path)}must be at most {limit}, got {_describe(value)}", False
    if kind in ("greater_than", "greater_than_equal"):
        limit = ctx.get("gt", ctx.get("ge"))
        return f"{_where(path)}must be greater than {limit}" + (
            "" if "gt" in ctx else " or equal to it"
        ), False
    if kind == "value_error":
        return f"{_where(path)}{str(ctx.get('error', error['msg']))}", False
    if kind in _TYPE_WORDS:
        hint = ""
        if (
            kind == "string_type"
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            hint = f': put it in quotes ("{value}") so YAML keeps it as text'
        return f"{_where(path)}expected {_TYPE_WORDS[kind]}, got {_describe(value)}{hint}", False
    return f"{_where(path)}{error['msg']}", False


def load_model(
    path: Any, model_cls: type[BaseModel], error: type[LocatedError], *, empty_ok: bool = False
) -> tuple[BaseModel, YamlDocument | None]:
    """Load a one-document YAML file (config, rule, market) into a model, or raise `error`
    at the path, line and column of the first problem. Also returns the YAML document, so
    that later checks can place their errors too. With `empty_ok`, an empty file is `{}`."""
    source = read_file(path, str(path), sniff=False)
    if source.problems:
        problem = source.problems[0]
        raise error(problem.message, str(path), problem.span.line, problem.span.column)
    if not source.documents and empty_ok:
        return model_cls.model_validate({}), None
    if len(source.documents) != 1:
        message = "expected exactly one YAML document" if source.documents else "the file is empty"
        raise error(message, str(path), 1, 1)
    doc = source.documents[0]
    if not isinstance(doc.data, dict):
        if doc.data is None and empty_ok:
            return model_cls.model_validate({}), None
        raise error("expected a mapping at the top level", str(path), 1, 1)
    try:
        return model_cls.model_validate(doc.data), doc
    except ValidationError as exc:
        problems = pydantic_problems(exc, doc.data, model_cls)
        placed = sorted(
            ((doc.span(p.path, key=p.key), p.message) for p in problems),
            key=lambda pair: (pair[0].line, pair[0].column),
        )
        span, message = placed[0]
        others = [f"line {s.line}: {m}" for s, m in placed[1:4]]
        more = f" (and {len(placed) - 4} more)" if len(placed) > 4 else ""
        if others:
            message += "; also " + "; ".join(others) + more
        raise error(message, str(path), span.line, span.column) from None
