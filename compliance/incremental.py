"""A lint run with the cache (lintcache.py): read what changed, check what may have changed.

engine._lint calls this module's two passes in place of its own when the cache is on:

* `Incremental.read` reads the repo's files. A file whose size and times match the cache, or
  whose bytes hash to the digest the cache holds, is not parsed: its documents enter the index
  as stubs (validation.Document.stub) that answer what other documents read of them and read
  their file again only if asked for more. Every other file is read and parsed as without the
  cache (by forked workers when many, see engine._read_files).
* `Incremental.check` takes from the cache the findings of each file and document reported on
  whose file is unchanged and whose recorded reads of other documents give what they gave
  then (see `Incremental.value`), and checks the others, recording what they read.

What a run learnt is then written back (`Incremental.save`). The findings are the ones a run
without the cache gives, in the same order: tests/test_cache.py holds it to that over random
sequences of edits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compliance import lintcache
from compliance.checks.base import RepoIndex
from compliance.findings import Finding
from compliance.lintcache import FileRow, LintCache, Result
from compliance.loader import SourceFile, parse_bytes, read_file
from compliance.validation import Document, FileChangedError, Summary, summary_of, validate


class Incremental:
    def __init__(
        self, cache: LintCache, root: str, cwd: str, release: bool, today: dt.date
    ) -> None:
        self.cache = cache
        self.root = root
        self.cwd = cwd
        self.release = release
        self.today = today
        # per document in the index: (repo-relative path, index in the file, file digest)
        self.where: dict[int, tuple[str, int, str]] = {}
        self.same: dict[str, FileRow] = {}  # files whose bytes are those the cache holds
        self.restat: dict[str, os.stat_result] = {}  # ... whose size or times changed
        self.fresh: dict[str, FileRow] = {}  # files read and parsed in this run
        self.present: set[str] = set()
        self._values: dict[tuple[str, ...], str] = {}
        self.index: RepoIndex | None = None

    # ---------------------------------------------------------------- reading

    def read(
        self, paths: list[str], jobs: int, index: RepoIndex, targets: set[str]
    ) -> Iterator[tuple[str, SourceFile | None, list[Document]]]:
        """Each path with its SourceFile and its documents (stubs for an unchanged file), in
        order, every document added to `index`: one at a time, so that the engine releases
        each file's trees before the next is parsed. An unchanged file that is not reported
        on gets no SourceFile (None): nothing asks for one."""
        from compliance.engine import _display, _read_files, _relative

        self.index = index
        plan: list[tuple[str, str, FileRow | None, os.stat_result | None]] = []
        to_parse: list[tuple[str, bytes | None]] = []
        rows, present = self.cache.rows, self.present
        prefix = self.root.rstrip(os.sep) + os.sep  # _relative's, for 10,000 paths
        cut, posix = len(prefix), os.sep == "/"
        for path in paths:
            key = path[cut:] if posix and path.startswith(prefix) else _relative(path, self.root)
            present.add(key)
            row = rows.get(key)
            info, raw = lintcache.scan(path, row)
            if info is not None and row is not None and isinstance(row.docs, list):
                if not row.racy and lintcache.stat_of(info) == row.stat:
                    self.same[key] = row
                    plan.append((path, key, row, info))
                    continue
                if raw is not None and lintcache.digest_of(raw) == row.digest:
                    self.same[key] = row
                    self.restat[key] = info
                    plan.append((path, key, row, info))
                    continue
            plan.append((path, key, None, info))
            to_parse.append((path, raw))
        parsed = iter(_read_files(to_parse, self.cwd, self.root, self.release, jobs))
        at_root = self.cwd == self.root
        where = self.where
        stub, add = Document.stub, index.add_stub
        for path, key, row, info in plan:
            # what reports print: the repo-relative path when run from the root (and inside it)
            display = key if at_root and key != path else _display(path, self.cwd)
            source: SourceFile | None
            if row is not None:
                source = SourceFile(path, display, key) if path in targets else None
                reader = _Reader(path, display, key, row.digest)
                assert isinstance(row.docs, list)
                docs = []
                for position, kind, valid, ident, text in row.docs:
                    doc = stub(kind, valid, Summary(display, ident, text, reader, position))
                    where[id(doc)] = (key, position, row.digest)
                    add(doc, kind, ident)
                    docs.append(doc)
                yield path, source, docs
                continue
            source = next(parsed)
            digest = source.digest
            docs = []
            entries: list[str] | None = []
            for yaml_doc in source.documents:
                doc = validate(yaml_doc)
                if doc is None:
                    continue
                docs.append(doc)
                self.where[id(doc)] = (key, yaml_doc.index, digest)
                summary = summary_of(yaml_doc.data)
                entry = (
                    lintcache.doc_entry(yaml_doc.index, doc.kind, doc.valid, doc.id, summary)
                    if summary is not None
                    else None
                )
                if entries is not None and entry is not None:
                    entries.append(entry)
                else:
                    entries = None
            if info is not None and digest and lintcache._regular(info):
                # kept as the text the cache stores: a tenth of the memory of the lists
                text = lintcache.NOT_STUBBABLE if entries is None else "\x1e".join(entries)
                self.fresh[key] = FileRow(lintcache.stat_of(info), False, digest, text, None, {})
            for doc in docs:
                index.add(doc)
            yield path, source, docs

    # ---------------------------------------------------------------- checking

    def check(
        self,
        runner: Any,
        files: dict[str, SourceFile],
        targets: set[str],
        target_docs: list[Document],
        jobs: int,
    ) -> list[Finding]:
        """The findings of the files and documents reported on, in the order engine._lint
        makes them; from the cache where it holds them and nothing they read has changed."""
        from compliance.engine import _checked, _relative

        keys = {path: _relative(path, self.root) for path in targets}
        self.cache.results([keys[p] for p in targets if keys[p] in self.same])
        findings: list[Finding] = []
        self.file_results: dict[str, list[Finding] | None] = {}
        for path in sorted(targets):
            key = keys[path]
            row = self.same.get(key)
            if row is not None and row.findings is not None:
                found = row.findings
            else:
                source = files[path]
                if key in self.same:  # a stub file: the file rules read its text
                    source = read_file(path, source.rel)
                    source.key = key
                    if source.digest != self.same[key].digest:
                        raise FileChangedError(source.rel)
                found = self._file_findings(runner, source)
            self.file_results[key] = found
            findings.extend(found)
        cached: dict[int, list[Finding]] = {}
        to_check: list[Document] = []
        for doc in target_docs:
            key, position, _ = self.where[id(doc)]
            row = self.same.get(key)
            known = row.reads.get(position) if row is not None else None
            if known is not None and self.signature(lintcache.read_keys(known.keys)) == (
                known.signature
            ):
                cached[id(doc)] = known.found()
            else:
                to_check.append(doc)
        self.checked: dict[int, Result] = {}
        for doc, (found, (keys, signature)) in zip(
            to_check, _checked(runner, to_check, jobs, record=self._recorded), strict=True
        ):
            self.checked[id(doc)] = Result(found, keys, signature)
        for doc in target_docs:
            found = cached.get(id(doc))
            findings.extend(found if found is not None else self.checked[id(doc)].found())
        return findings

    def _recorded(self, reads: set[tuple[str, ...]]) -> tuple[str | None, str]:
        """What a document's result keeps of its reads: their keys as text and the signature
        of what they give now (made where it was checked: a worker sends these back)."""
        keys = sorted(reads)
        return lintcache.keys_text(keys), self.signature(keys)

    def signature(self, keys: list[tuple[str, ...]]) -> str:
        """What these reads give now, as one digest."""
        joined = "\x1e".join(self.value(k) for k in keys)
        return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def _file_findings(self, runner: Any, source: SourceFile) -> list[Finding] | None:
        index = runner.index
        index.reads = set()
        try:
            found = list(runner.file_findings(source))
            read = index.reads
        finally:
            index.reads = None
        return found if not read else _Uncacheable(found)

    def value(self, key: tuple[str, ...]) -> str:
        """What a read gives now: the documents it finds, by file, place and digest."""
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = self._value(key)
        return found

    def _value(self, key: tuple[str, ...]) -> str:
        index = self.index
        assert index is not None
        what = key[0]
        # lists are written as JSON: no id or path can make two lists read as one
        if what == "get" and len(key) == 3:
            docs = index.by_kind.get(key[1], {}).get(key[2], [])
            return json.dumps([self._token(d) for d in docs])
        if what == "users" and len(key) == 3:
            users = json.dumps([self._token(d) for d in index.users(key[1], key[2])])
            return hashlib.blake2b(users.encode("utf-8", "surrogatepass")).hexdigest()
        if what == "ids" and len(key) == 2:
            ids = json.dumps(sorted(index.by_kind.get(key[1], {})))
            return hashlib.blake2b(ids.encode("utf-8", "surrogatepass")).hexdigest()
        if what == "today" and len(key) == 1:
            return self.today.isoformat()
        return "\x00"  # a read this version does not know: never equal to a stored one

    def _token(self, doc: Document) -> list[Any]:
        return list(self.where[id(doc)])  # file, place in it, digest of its bytes

    # ---------------------------------------------------------------- writing

    def save(self) -> str | None:
        """Write what this run learnt; None, or why it could not be written."""
        rows: dict[str, FileRow] = dict(self.fresh)
        for key, info in self.restat.items():
            row = self.same[key]
            row.stat = lintcache.stat_of(info)
            row.racy = False
        by_file: dict[str, dict[int, Result]] = {}
        for doc_id, result in self.checked.items():
            key, position, _ = self.where[doc_id]
            by_file.setdefault(key, {})[position] = result
        changed: dict[str, FileRow] = {}
        for key, row in rows.items():
            found = self.file_results.get(key) if hasattr(self, "file_results") else None
            row.findings = None if isinstance(found, _Uncacheable) else found
            row.reads = by_file.get(key, {})
            changed[key] = row
        for key, found in getattr(self, "file_results", {}).items():
            if key in changed or key not in self.same:
                continue
            row = self.same[key]  # unchanged: its results were read (see check)
            results = by_file.get(key)
            known = None if isinstance(found, _Uncacheable) else found
            if results is None and row.findings == known:
                continue  # nothing new about it
            row.reads = {**row.reads, **(results or {})}
            row.findings = known
            changed[key] = row
        restat = {k: self.same[k] for k in self.restat if k not in changed}
        return self.cache.save(changed, self.present, restat)


class _Uncacheable(list):  # type: ignore[type-arg]
    """File findings that read other documents: computed again each run (no file rule does
    today; this keeps the cache right if one ever does)."""


class _Reader:
    """An unchanged file read again, once, when a stub of it is asked for more than its
    summary; its bytes must still have the digest the cache holds."""

    __slots__ = ("path", "display", "key", "digest", "docs")

    def __init__(self, path: str, display: str, key: str, digest: str) -> None:
        self.path, self.display, self.key, self.digest = path, display, key, digest
        self.docs: dict[int, Document] | None = None

    def doc(self, position: int) -> Document:
        if self.docs is None:
            raw = lintcache._read(self.path)
            if raw is None or lintcache.digest_of(raw) != self.digest:
                raise FileChangedError(self.display)
            source = parse_bytes(SourceFile(self.path, self.display, self.key), raw)
            source.release()  # as a large repo's files are: trees composed again when asked
            self.docs = {}
            for yaml_doc in source.documents:
                found = validate(yaml_doc)
                if found is not None:
                    self.docs[yaml_doc.index] = found
        found = self.docs.get(position)
        if found is None:
            raise FileChangedError(self.display)
        return found


def cache_key(config: Any, enforced: frozenset[str] | None, cwd: str, pack_dirs: list[Path]) -> str:
    """The configuration a cache file is for: the tool, the rule packs, the config file, the
    markets enforced and the folder reports print paths from."""
    from compliance.packs import shipped_pack_dir

    config_bytes = b""
    if config.path is not None:
        try:
            config_bytes = Path(config.path).read_bytes()
        except OSError:
            config_bytes = b"\x00unreadable"
    bases = [shipped_pack_dir(), *pack_dirs]
    packs = lintcache.files_fingerprint([b / part for b in bases for part in ("rules", "markets")])
    return lintcache.run_key(
        [
            lintcache.code_fingerprint(),
            packs,
            str(config.path),
            hashlib.blake2b(config_bytes).hexdigest(),
            ",".join(sorted(enforced)) if enforced is not None else "*",
            str(config.root),
            cwd,
        ]
    )
