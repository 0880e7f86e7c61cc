"""YAML loading that keeps every node's place.

libyaml's C parser (through ruamel.yaml) builds the node tree with line and column marks; we turn
nodes into plain Python values ourselves so that duplicate keys, alias bombs and deep nesting
become findings rather than crashes, and so that any value can be traced back to its node.

The node trees are most of a parsed file's memory (a node and two marks per value), and they are
needed only to place findings. `SourceFile.release()` drops them, keeping the text and each
document's plain data; a place asked for afterwards is found in a tree composed again from the
same text (see `YamlDocument.tree`). This is what lets the linter keep a large repo in memory.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.findings import Span
from compliance.positions import align
from compliance.yamlcore import MERGE_TAG, STR_TAG, compose_all, scalar_value, tag_of

MAX_FILE_BYTES = 1 << 20  # 1 MiB: templates are small; bigger files are mistakes or attacks
MAX_NODES_PER_DOCUMENT = 20_000  # after alias expansion; a real template has under 200
MAX_DEPTH = 64
# Keys and short string values are interned: a repo's documents stay in memory as plain data for
# the whole run, and most of their strings (keys, kinds, channels, market codes, statuses) are
# the same few words, otherwise each held once per document (~1 KB of a template's ~2 KB)
SHARED_MAX = 24


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a file as YAML, before any rule looks at it."""

    code: str  # syntax, encoding, too-large, alias-bomb, duplicate-key, too-deep, key-type
    message: str
    span: Span
    document: int | None = None  # index of the YAML document in the file, when known


class SourceFile:
    """A YAML file: its text, what is wrong with it as YAML, and its documents.

    Slotted, with the path kept as text, because a linted repo holds one per file to the end.
    """

    __slots__ = (
        "_path",
        "rel",
        "key",
        "text",
        "problems",
        "documents",
        "_line_starts",
        "cache",
        "digest",
    )

    def __init__(
        self,
        path: Path | str,
        rel: str,  # relative to the working folder, forward slashes: what reports print
        key: str = "",  # relative to the repo root: what config globs match
        text: str = "",
        problems: list[Problem] | None = None,
        documents: list[YamlDocument] | None = None,
    ) -> None:
        self._path = path if isinstance(path, str) else str(path)
        self.rel = rel
        self.key = key
        self.text = text
        self.problems: list[Problem] = [] if problems is None else problems
        self.documents: list[YamlDocument] = [] if documents is None else documents
        self._line_starts: list[int] | None = None
        self.cache: dict[str, Any] = {}  # per-file facts checks compute once
        self.digest = ""  # BLAKE2 of the bytes read, for the lint cache ("" if none were)

    def __repr__(self) -> str:
        return f"SourceFile({self.rel!r}, {len(self.documents)} documents)"

    @property
    def path(self) -> Path:
        return Path(self._path)

    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            find = self.text.find
            i = find("\n")
            while i != -1:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        return self._line_starts

    def position(self, offset: int) -> tuple[int, int]:
        """0-based (line, column) of a character offset."""
        starts = self.line_starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line, offset - starts[line]

    def release(self) -> None:
        """Drop the node trees of the file's documents, the line table and the per-file facts
        checks cached: what a file costs beyond its text, problems and plain data. All of it
        comes back on demand (trees composed again from the text, facts computed again)."""
        for doc in self.documents:
            doc.release()
        self.drop_caches()

    def drop_caches(self) -> None:
        """Forget the line table and the per-file facts of checks: computed again if asked."""
        self._line_starts = None
        if self.cache:
            self.cache = {}

    def line_text(self, line1: int) -> str:
        starts = self.line_starts()
        if not 1 <= line1 <= len(starts):
            return ""
        end = starts[line1] - 1 if line1 < len(starts) else len(self.text)
        return self.text[starts[line1 - 1] : end]


class YamlDocument:
    """One YAML document of a file: its plain data and the node tree it came from.

    After `release()` the tree is gone (`root` is None) and `tree()` composes it again from the
    source text, which gives the same nodes at the same places: for that one question, or until
    the next `release()` after `hold()`.
    """

    __slots__ = ("source", "index", "root", "data", "held")

    def __init__(self, source: SourceFile, index: int, root: Any, data: Any) -> None:
        self.source = source
        self.index = index  # of the document in the file, counting empty ones
        self.root = root
        self.data = data
        self.held = False  # keep a tree composed again after release(), until the next one

    @property
    def released(self) -> bool:
        return self.root is None  # parsing never keeps a document without a tree

    def release(self) -> None:
        """Drop the node tree (kept: the plain data), and the file's line table and facts that
        placing findings and checking computed (see SourceFile.drop_caches)."""
        self.root = None
        self.held = False
        self.source.drop_caches()

    def hold(self) -> None:
        """Until the next `release()`, keep the tree once it is composed again: the places of
        several findings then cost one parse."""
        self.held = True

    def tree(self) -> Any:
        """The root node, composed again from the source text if the tree was released."""
        root = self.root
        if root is None:
            root = _compose_again(self.source.text, self.index)
            if self.held:
                self.root = root
        return root

    def node_at(self, path: tuple[Any, ...], key: bool = False, root: Any = None) -> Any:
        """The node at `path`, or the deepest existing ancestor; `key`: the mapping key node.
        `root`: a tree already in hand (a released document's tree is otherwise composed for
        each question, and nodes of two compositions are never the same object)."""
        node = self.tree() if root is None else root
        key_node = None
        for part in path:
            found = _child(node, part)
            if found is None:
                return key_node if key and key_node is not None else node
            key_node, node = found
        return key_node if key and key_node is not None else node

    def span(self, path: tuple[Any, ...] = (), key: bool = False) -> Span:
        return node_span(self.source, self.node_at(path, key=key))

    def text_span(self, path: tuple[Any, ...], start: int, end: int) -> Span:
        """The place of characters [start, end) of the string at `path`, else of its node."""
        node = self.node_at(path)
        if tag_of(node) == STR_TAG and end > start:
            places = align(self.source, node)
            if places is not None and end <= len(places):
                line0, col0 = places[start]
                eline0, ecol0 = places[end - 1]
                return Span(line0 + 1, col0 + 1, eline0 + 1, ecol0 + 2)
        return node_span(self.source, node)


def _compose_again(text: str, index: int) -> Any:
    """The node tree of the `index`-th document of `text`: parse_text() read it from this very
    text, so the parse succeeds as it did then (stopping there, before any later document that
    may be broken)."""
    for i, root in enumerate(compose_all(text)):
        if i == index:
            return root
    raise AssertionError(f"document {index} is no longer in the text")  # pragma: no cover


def node_span(source: SourceFile, node: Any) -> Span:
    # marks' line numbers count NEL, LS and PS as line breaks, as YAML 1.1 did; editors do not,
    # so places are computed from the character index against our own line table
    line, col = source.position(node.start_mark.index)
    end_line, end_col = source.position(node.end_mark.index)
    if end_col == 0 and end_line > line:
        # block scalars end at the start of the next line; point at the end of the last one
        end_line -= 1
        end_col = len(source.line_text(end_line + 1))
    return Span(line + 1, col + 1, end_line + 1, end_col + 1)


def _child(node: Any, part: Any) -> tuple[Any, Any] | None:
    value = node.value
    if node.id == "mapping":
        want = str(part)
        merged = None
        for k, v in reversed(value):  # the last duplicate wins, as in the data
            if tag_of(k) == MERGE_TAG:
                merged = merged or v
            elif isinstance(k.value, str) and k.value == want:
                return k, v
        if merged is not None:
            for m in merged.value if merged.id == "sequence" else [merged]:
                found = _child(m, part) if m.id == "mapping" else None
                if found:
                    return found
        return None
    if node.id == "sequence" and isinstance(part, int) and 0 <= part < len(value):
        return value[part], value[part]
    return None


def read_file(path: Path | str, rel: str, *, sniff: bool = True) -> SourceFile:
    """Read and parse one YAML file. Never raises for bad content: problems are recorded."""
    source = SourceFile(path=path, rel=rel)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            # a FIFO would block for ever and /dev/zero would never end
            source.problems.append(
                Problem("unreadable", "not a regular file: lint only files", Span(1, 1, 1, 1))
            )
            return source
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # st_size may lie (procfs, growing files)
    except OSError as exc:
        source.problems.append(
            Problem("unreadable", f"cannot read file: {exc.strerror or exc}", Span(1, 1, 1, 1))
        )
        return source
    return parse_bytes(source, raw, sniff=sniff)


def parse_bytes(source: SourceFile, raw: bytes, *, sniff: bool = True) -> SourceFile:
    source.digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    if len(raw) > MAX_FILE_BYTES:
        source.problems.append(
            Problem(
                "too-large",
                f"file is over the {MAX_FILE_BYTES:,}-byte limit: split it into smaller files "
                "(one template per file is the usual layout)",
                Span(1, 1, 1, 1),
            )
        )
        return source
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        # columns count characters, as everywhere else: decode what precedes the bad byte
        col = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        source.problems.append(
            Problem(
                "encoding",
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}): "
                "save it as UTF-8",
                Span(line, col, line, col + 1),
            )
        )
        return source
    return parse_text(source, text, sniff=sniff)


def parse_text(source: SourceFile, text: str, *, sniff: bool = True) -> SourceFile:
    """Parse `text` into `source`. With `sniff`, text without the word "kind" is not parsed:
    it cannot hold a document, and most YAML in a repo (CI files, configs) is not ours."""
    source.text = text
    source._line_starts = None
    if sniff and "kind" not in text:
        return source
    try:
        for index, root in enumerate(compose_all(text)):
            if root is None:
                continue
            builder = _Builder(source, index)
            data = builder.build(root)
            source.documents.append(YamlDocument(source, index, root, data))
    except RecursionError:
        source.problems.append(
            Problem(
                "too-deep",
                f"nesting is too deep to read (limit {MAX_DEPTH} levels)",
                Span(1, 1, 1, 1),
            )
        )
    except _TooBig as exc:
        source.problems.append(exc.problem)
    except Exception as exc:  # ruamel's YAMLError family, and reader errors on control characters
        source.problems.append(_syntax_problem(source, exc, len(source.documents)))
    return source


def _syntax_problem(source: SourceFile, exc: Exception, index: int) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        message = f"{context} and {problem}" if context and "while" not in context else problem
        message = f"invalid YAML: {message}"
    else:
        text = str(exc).strip().splitlines()
        message = "invalid YAML: " + (text[0] if text else type(exc).__name__)
    if mark is not None and source.text:
        line0, col0 = source.position(min(mark.index, len(source.text)))
        line, col = line0 + 1, col0 + 1
    elif mark is not None:
        line, col = mark.line + 1, mark.column + 1
    else:  # reader errors carry a character position only
        line, col = 1, 1
        pos = getattr(exc, "position", None)
        if isinstance(pos, int):
            line0, col0 = source.position(min(pos, len(source.text)))
            line, col = line0 + 1, col0 + 1
            char = getattr(exc, "character", None)
            code = char if isinstance(char, int) else ord(char) if char else None
            named = f" U+{code:04X}" if code is not None else ""
            message = (
                f"invalid YAML: control character{named} is not allowed in YAML; "
                "remove it or write it as an escape in a double-quoted string"
            )
    hidden_break = _YAML11_BREAK.search(source.text)
    if hidden_break is not None and hidden_break.start() <= _offset_of(source, line, col):
        # YAML parsers treat NEL, LS and PS as line breaks, which editors do not show: the
        # error is a consequence, so point at the character itself
        line0, col0 = source.position(hidden_break.start())
        line, col = line0 + 1, col0 + 1
        name = _BREAK_NAMES[hidden_break.group()]
        message += (
            f" (probably caused by the invisible {name} at line {line}, column {col}, which "
            "YAML reads as a line break: remove it, or write it as an escape in a double-quoted "
            "string)"
        )
    return Problem("syntax", message, Span(line, col, line, col + 1), index)


_YAML11_BREAK = re.compile("[\x85\u2028\u2029]")
_BREAK_NAMES = {
    "\x85": "U+0085 NEXT LINE",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
}


def _offset_of(source: SourceFile, line: int, col: int) -> int:
    starts = source.line_starts()
    if line - 1 >= len(starts):
        return len(source.text)
    return starts[line - 1] + col - 1


class _TooBig(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


_intern = sys.intern


class _Builder:
    """Node tree to plain values: str/int/float/bool/None/date/list/dict, with a node budget."""

    def __init__(self, source: SourceFile, index: int) -> None:
        self.source = source
        self.index = index
        self.budget = MAX_NODES_PER_DOCUMENT
        self.active: set[int] = set()

    def build(self, node: Any, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig(
                Problem(
                    "alias-bomb",
                    f"document expands to more than {MAX_NODES_PER_DOCUMENT:,} values "
                    "(aliases repeated too often): remove the nested aliases",
                    node_span(self.source, node),
                    self.index,
                )
            )
        if depth > MAX_DEPTH:
            raise _TooBig(
                Problem(
                    "too-deep",
                    f"nesting deeper than {MAX_DEPTH} levels",
                    node_span(self.source, node),
                    self.index,
                )
            )
        if tag_of(node) == STR_TAG:
            value = node.value
            return _intern(value) if len(value) <= SHARED_MAX else value
        if node.id == "scalar":
            return scalar_value(node)
        ident = id(node)
        if ident in self.active:
            raise _TooBig(
                Problem(
                    "alias-bomb",
                    "an alias refers to its own ancestor (a cycle)",
                    node_span(self.source, node),
                    self.index,
                )
            )
        self.active.add(ident)
        try:
            if node.id == "mapping":
                return self._mapping(node, depth)
            return [self.build(item, depth + 1) for item in node.value]
        finally:
            self.active.discard(ident)

    def _mapping(self, node: Any, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        merges: list[Any] = []
        for key_node, value_node in node.value:
            if tag_of(key_node) == MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node.value, str):
                self.source.problems.append(
                    Problem(
                        "key-type",
                        "mapping keys must be plain scalars, not lists or mappings",
                        node_span(self.source, key_node),
                        self.index,
                    )
                )
                continue
            key = _intern(key_node.value)
            if key in seen:
                first = self.source.position(seen[key].start_mark.index)[0] + 1
                self.source.problems.append(
                    Problem(
                        "duplicate-key",
                        f"duplicate key {key!r} (first defined at line {first}): YAML keys must be "
                        "unique, and the later value would silently win",
                        node_span(self.source, key_node),
                        self.index,
                    )
                )
            seen[key] = key_node
            result[key] = self.build(value_node, depth + 1)
        for merge in merges:
            sources = merge.value if merge.id == "sequence" else [merge]
            for src in sources:
                merged = self.build(src, depth + 1)
                if isinstance(merged, dict):
                    for k, v in merged.items():
                        result.setdefault(k, v)
        return result
