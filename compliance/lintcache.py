"""The lint cache: what a run learnt of each file, kept for the next run.

`compliance lint` keeps, in `.compliance_cache/` at the repo root, one SQLite file per
configuration (the tool's code, the rule packs, the config file, the markets enforced and the
folder findings are printed relative to). For each file it holds:

* its size, times and inode, and the BLAKE2 digest of its bytes: a file whose size and times
  have not changed is not read again; one whose times changed is read and hashed, and is
  unchanged if its digest is;
* for each document in it, its kind, validity and summary (validation.SUMMARY_FIELDS): what
  other documents read of it, so that an unchanged file is context without being parsed;
* the findings of the file and of each of its documents, with what checking them read of the
  other documents (checks.base.RepoIndex.reads) and what that was. A document's findings are
  taken from the cache only when its file is unchanged and every one of those reads gives
  what it gave then: a template is checked again when its sender changes, a sender when a
  template starts or stops naming it, a dated rule on another day.

The cache is a convenience, never evidence. It is rebuilt when it is missing, unreadable,
of another format, or not this user's. Each user has a secret key (in the user cache folder):
a cache file whose owner mark was not made with it is emptied before use, and every row
carries a mark made with it over the row's fields (a result's over the digest of the bytes it
was found in too), so a row that was not written as it is by this user's runs is not read: a
cache committed to a repo, restored from another machine, edited, or spliced from two of the
user's own caches cannot hide a finding. A cache folder that is a link or another user's is
not used. Several runs may share it: each run's changes are written in one transaction, and
one that cannot get the write lock in time leaves them unwritten (the next run computes them
again).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.findings import Citation, Finding, Span

CACHE_DIR = ".compliance_cache"
FORMAT = 5
SUFFIXES = ("", "-wal", "-shm", "-journal")
KEEP = 4  # configurations kept: the files of others are deleted, least recently used first
RACY_NS = 2_000_000_000  # a file written this close to the scan may change again unseen
BUSY_MS = 2_000
GITIGNORE = "# Created by compliance lint: a cache, safe to delete\n*\n"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder is a cache made by compliance lint (https://bford.info/cachedir/)\n"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL, racy INTEGER NOT NULL,
    digest TEXT NOT NULL,
    docs TEXT NOT NULL,
    findings TEXT NOT NULL,
    mark TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    path TEXT NOT NULL, doc INTEGER NOT NULL, findings TEXT NOT NULL, reads TEXT NOT NULL,
    signature TEXT NOT NULL, mark TEXT NOT NULL,
    PRIMARY KEY (path, doc)
);
"""


@dataclass(slots=True)
class FileRow:
    """What the cache holds of a file."""

    stat: tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
    racy: bool
    digest: str
    # per YAML document of ours, in order: (index in the file, kind, valid, summary), or None
    # when a document's summary could not be kept (the file is then read every run); as
    # read from the cache, or as JSON text for a file read in this run
    docs: list[tuple[int, str, bool, str | None, str]] | str | None
    findings: list[Finding] | None  # the file's own findings (file rules), None: not known
    # per document (its index in the file): its findings, what checking it read of the other
    # documents (read_keys) and the signature of what those reads gave (see incremental)
    reads: dict[int, Result]
    stored: tuple[str, str] | None = None  # docs and findings as the cache holds them

    def docs_text(self) -> str:
        if isinstance(self.docs, str):
            return self.docs
        if self.stored is not None:
            return self.stored[0]
        if self.docs is None:
            return NOT_STUBBABLE
        return "\x1e".join(doc_entry(i, k, v, d, t, encoded=True) for i, k, v, d, t in self.docs)

    def findings_text(self) -> str:
        if self.findings is None:
            return "null"
        return json.dumps([_dump(f) for f in self.findings])


@dataclass(slots=True)
class Result:
    findings: list[Finding] | str  # as JSON text until asked for (see found)
    keys: str | None  # the reads' keys, fields joined by \x1f, keys by \x1e (see keys_text)
    signature: str

    def found(self) -> list[Finding]:
        if isinstance(self.findings, str):
            self.findings = _findings(json.loads(self.findings)) if self.findings else []
        return self.findings or []


NOT_STUBBABLE = "-"  # a file one of whose documents has no summary: it is read every run


def doc_entry(
    index: int,
    kind: str,
    valid: bool,
    ident: str | None,
    summary: Any,
    encoded: bool = False,
) -> str | None:
    """A document as the files table keeps it: index, kind, validity, id (= before it, so that
    no id and an empty one differ) and the summary as JSON, joined by \x1f; None when the id
    holds a separator (the file is then read every run)."""
    if ident is not None and ("\x1e" in ident or "\x1f" in ident or not _storable(ident)):
        return None
    text = summary if encoded else json.dumps(summary)  # JSON writes control characters escaped
    tag = "" if ident is None else f"={ident}"
    return f"{index}\x1f{kind}\x1f{int(valid)}\x1f{tag}\x1f{text}"


def read_keys(text: str) -> list[tuple[str, ...]]:
    return [tuple(key.split("\x1f")) for key in text.split("\x1e")] if text else []


def keys_text(keys: Iterable[tuple[str, ...]]) -> str | None:
    """The keys as one text; None when a part holds a separator (an id with control
    characters): such a result is not kept, and the document is checked every run."""
    parts = [part for key in keys for part in key]
    if any("\x1e" in part or "\x1f" in part for part in parts):
        return None
    return "\x1e".join("\x1f".join(key) for key in keys)


def mark(key: bytes, *fields: object) -> str:
    """A row's mark: its fields under the user's key (blake2b). They are joined by NUL, which
    no field but a result's reads can hold (paths, numbers, hex digests and JSON cannot), and
    the reads are the only such field: the joined text reads back one way only."""
    data = "\x00".join(map(str, fields)).encode("utf-8", "surrogatepass")
    keyed = _KEYED.get(key)
    if keyed is None:  # the key's first block hashed once: a copy per row is quicker
        keyed = _KEYED[key] = hashlib.blake2b(key=key, digest_size=16)
    found = keyed.copy()
    found.update(data)
    return found.hexdigest()


_KEYED: dict[bytes, Any] = {}


def findings_text(found: list[Finding]) -> str:
    return json.dumps([_dump(f) for f in found]) if found else ""


def stat_of(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def digest_of(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()  # as loader.parse_bytes makes it


def run_key(parts: Iterable[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:24]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The tool as installed: its version, and the size and time of every module and bundled
    file of the package (an edited checkout is another tool), with Python's and the parsers'
    versions."""
    import pydantic
    import ruamel.yaml

    from compliance import __version__

    here = Path(__file__).resolve().parent
    parts = [__version__, sys.version, ruamel.yaml.__version__, pydantic.VERSION]
    for folder, _, names in sorted(os.walk(here)):
        if "__pycache__" in folder:
            continue
        for name in sorted(names):
            if name.endswith((".py", ".yaml", ".yml", ".json", ".txt")):
                info = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{info.st_size}:{info.st_mtime_ns}")
    return run_key(parts)


def files_fingerprint(paths: Iterable[Path]) -> str:
    """The YAML files under these folders (rule packs), by path, size and time."""
    parts = []
    for root in paths:
        for folder, _, names in sorted(os.walk(root)):
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    full = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        info = os.stat(full)
                        parts.append(f"{full}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}")
    return run_key(parts)


def _newest_ns(paths: Iterable[Path]) -> int:
    newest = 0
    for root in paths:
        for folder, _, names in os.walk(root):
            for name in names:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return newest


def load_packs_cached(extra_dirs: list[Path]) -> Any:
    """The rule packs, as packs.load_packs reads them, from a copy kept in the user cache
    folder while neither the tool nor a pack file has changed: reading and validating the
    packs is a third of a one-template lint. The copy is signed with the user's key and is
    read only if the signature holds; anything wrong with it and the packs are read again."""
    import pickle

    from compliance.packs import load_packs, shipped_pack_dir

    key, _ = _user_key()
    if key is None:
        return load_packs(extra_dirs)
    folders = [b / part for b in [shipped_pack_dir(), *extra_dirs] for part in ("rules", "markets")]
    name = run_key([code_fingerprint(), files_fingerprint(folders), *map(str, extra_dirs)])
    path = os.path.join(_user_folder(), f"packs-{name}.pickle")
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
        mark, body = blob[:32], blob[32:]
        if hmac.compare_digest(mark, hashlib.blake2b(body, key=key, digest_size=32).digest()):
            return pickle.loads(body)  # signed with this user's key: made by this user
    except Exception:  # noqa: BLE001 - missing, short, or not ours: read the packs again
        pass
    packs = load_packs(extra_dirs)
    if _newest_ns(folders) < time.time_ns() - RACY_NS:  # a pack saved just now may change again
        with contextlib.suppress(Exception):
            body = pickle.dumps(packs, protocol=5)
            mark = hashlib.blake2b(body, key=key, digest_size=32).digest()
            temp = f"{path}.{os.getpid()}.tmp"
            with open(temp, "wb") as handle:
                handle.write(mark + body)
            os.replace(temp, path)
            _prune_packs(os.path.dirname(path), keep=path)
    return packs


def _prune_packs(folder: str, keep: str) -> None:
    found = sorted(
        (os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("packs-")),
        key=lambda p: os.stat(p).st_mtime_ns,
        reverse=True,
    )
    for old in found[KEEP * 2 :]:
        if old != keep:
            with contextlib.suppress(OSError):
                os.unlink(old)


def _user_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "compliance")


def _user_key() -> tuple[bytes | None, str]:
    """This user's secret for the caches' marks, made on first use; or None and why not (the
    user cache folder cannot hold it, or the file is not this user's alone)."""
    folder = _user_folder()
    path = os.path.join(folder, "lint-cache.key")
    try:
        problem = _not_ours(path, directory=False)
        if problem:
            return None, problem
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            key = handle.read()
        if len(key) == 32:
            return key, ""
    except OSError:
        pass
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        key = secrets.token_bytes(32)
        temp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        try:
            os.link(temp, path)  # the first run to make one wins; the others read it
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
        problem = _not_ours(path, directory=False)
        if problem:
            return None, problem
        with open(path, "rb") as handle:
            key = handle.read()
        if len(key) != 32:
            return None, f"{path} is not a cache key; delete it and run again"
        return key, ""
    except OSError as exc:
        return None, f"the user cache folder cannot hold the cache key ({exc.strerror or exc})"


class LintCache:
    """One configuration's cache file, opened for one run."""

    def __init__(self, connection: sqlite3.Connection, path: Path, key: bytes) -> None:
        self.db = connection
        self.path = path
        self.key = key  # marks every row: a row this user's runs did not write is not read
        self.rows: dict[str, FileRow] = {}
        self.started_ns = time.time_ns()

    @classmethod
    def open(cls, root: Path, key: str) -> tuple[LintCache | None, str | None]:
        """The cache of this configuration under `root`, and None; or None and why there is
        none (the folder cannot be written, no user key): the run then goes on without."""
        owner_key, why = _user_key()
        if owner_key is None:
            return None, why
        folder = root / CACHE_DIR
        try:
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
            problem = _not_ours(folder, directory=True)
            if problem:
                return None, problem
            path = folder / f"lint-{key}.sqlite3"
            for name in (".gitignore", "CACHEDIR.TAG", *(f"{path.name}{s}" for s in SUFFIXES)):
                entry = folder / name
                if entry.is_symlink() or (entry.exists() and not entry.is_file()):
                    entry.unlink()  # a link planted in the folder (a clone can carry one)
            for name, text in ((".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)):
                if not (folder / name).exists():
                    _write_atomic(folder / name, text)
        except OSError as exc:
            return None, f"{folder} cannot be written ({exc.strerror or exc})"
        owner = hmac.new(owner_key, f"compliance lint cache {key}".encode(), "blake2b").hexdigest()
        row_key = hashlib.blake2b(f"rows {key}".encode(), key=owner_key, digest_size=32).digest()
        for attempt in (1, 2):
            try:
                cache = cls(_connect(path), path, row_key)
                cache._own(owner)
                cache._load()
                _prune(folder, keep=path)
                return cache, None
            except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError) as exc:
                # unreadable or not ours as expected: start again from an empty file
                with contextlib.suppress(Exception):
                    cache.db.close()  # type: ignore[possibly-undefined]
                for suffix in SUFFIXES:
                    with contextlib.suppress(OSError):
                        os.unlink(f"{path}{suffix}")
                if attempt == 2:
                    return None, f"{path} cannot be used ({exc})"
        return None, "unreachable"  # pragma: no cover

    def _own(self, owner: str) -> None:
        db = self.db
        with db:
            db.executescript(SCHEMA)
        found = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if found.get("owner") == owner and found.get("format") == str(FORMAT):
            return
        with db:  # another user's, another format, or new: empty it, then mark it ours
            db.execute("DELETE FROM files")
            db.execute("DELETE FROM results")
            db.execute("DELETE FROM meta")
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("owner", owner), ("format", str(FORMAT))]
            )

    def _load(self) -> None:
        rows: dict[str, FileRow] = {}
        key = self.key
        query = (
            "SELECT path, size, mtime_ns, ctime_ns, ino, racy, digest, docs, findings, mark "
            "FROM files"
        )
        for path, size, mtime, ctime, ino, racy, digest, docs, found, marked in self.db.execute(
            query
        ):
            if marked != mark(key, path, size, mtime, ctime, ino, digest, docs, found):
                continue  # not written by this user's runs as it is: read the file again
            stat = (int(size), int(mtime), int(ctime), int(ino))
            row = FileRow(stat, bool(racy), digest, _docs(docs), None, {})
            if found == "[]" or found == "null":  # most rows: no finding, or not reported on
                row.findings = [] if found == "[]" else None
            else:
                row.findings = _findings(json.loads(found))
            row.stored = (docs, found)
            rows[path] = row
        self.rows = rows

    def results(self, paths: list[str]) -> None:
        """Read the results (findings, reads, signature) of these files' documents into their
        rows: only those a run may take from the cache are read."""
        db = self.db
        key = self.key
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                for path, doc, findings, reads, signature, marked in db.execute(
                    "SELECT path, doc, findings, reads, signature, mark FROM results "
                    f"WHERE path IN ({marks})",
                    chunk,
                ):
                    row = self.rows.get(path)
                    digest = row.digest if row is not None else ""
                    if marked != mark(key, path, doc, digest, findings, reads, signature):
                        continue  # not written for these bytes by this user's runs: check again
                    if not (
                        isinstance(findings, str)
                        and isinstance(reads, str)
                        and isinstance(signature, str)
                    ):
                        raise ValueError("a result of the wrong shape")
                    if row is not None:
                        row.reads[int(doc)] = Result(findings, reads, signature)
            except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError):
                for path in chunk:  # what cannot be read is computed again
                    row = self.rows.get(path)
                    if row is not None:
                        row.findings, row.reads = None, {}

    def save(
        self, changed: dict[str, FileRow], present: set[str], restat: dict[str, FileRow]
    ) -> str | None:
        """In one transaction: write the rows of `changed` files whole (their results as they
        now hold), the new size and times of `restat` files (their bytes and results are
        as they were), and drop the rows of files gone. None, or why it could not be written."""
        gone = [p for p in self.rows if p not in present]
        # a name that is not UTF-8 (bytes a file system allows) cannot be a key: such a file
        # is read and checked every run, the others are kept
        changed = {p: row for p, row in changed.items() if _storable(p)}
        restat = {p: row for p, row in restat.items() if _storable(p)}
        if not changed and not gone and not restat:
            return None
        db = self.db
        try:
            with db:
                db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(gone), 500):
                    chunk = gone[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM files WHERE path IN ({marks})", chunk)
                    db.execute(f"DELETE FROM results WHERE path IN ({marks})", chunk)
                db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._file_values(path, row, row.findings_text())
                        for path, row in changed.items()
                    ),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._file_values(path, row, row.stored[1] if row.stored else "null")
                        for path, row in restat.items()
                    ),
                )
                paths = list(changed)
                for start in range(0, len(paths), 500):
                    chunk = paths[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM results WHERE path IN ({marks})", chunk)
                db.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        self._result_values(path, doc, row.digest, result)
                        for path, row in changed.items()
                        for doc, result in row.reads.items()
                        if result.keys is not None and _storable(result.keys)  # see keys_text
                    ),
                )
        except (sqlite3.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            return f"{self.path} was not updated ({exc})"
        return None

    def _file_values(self, path: str, row: FileRow, found: str) -> tuple[Any, ...]:
        size, mtime, ctime, ino = row.stat
        racy = int(row.racy or max(mtime, ctime) >= self.started_ns - RACY_NS)
        docs = row.docs_text()
        marked = mark(self.key, path, size, mtime, ctime, ino, row.digest, docs, found)
        return (path, size, mtime, ctime, ino, racy, row.digest, docs, found, marked)

    def _result_values(self, path: str, doc: int, digest: str, result: Result) -> tuple[Any, ...]:
        found = (
            result.findings if isinstance(result.findings, str) else findings_text(result.findings)
        )
        # the digest of the bytes it was found in is marked too: a result cannot be moved to
        # another version of its file, even within this user's own caches
        marked = mark(self.key, path, doc, digest, found, result.keys, result.signature)
        return (path, doc, found, result.keys, result.signature, marked)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # a cache: a file lost in a crash is rebuilt
    return db


def _prune(folder: Path, keep: Path) -> None:
    """Keep the KEEP configurations used last; delete the others' files."""
    with contextlib.suppress(OSError):
        os.utime(keep)
        found = sorted(
            (p for p in folder.glob("lint-*.sqlite3") if p.is_file() and not p.is_symlink()),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for old in found[KEEP:]:
            for suffix in SUFFIXES:
                with contextlib.suppress(OSError):
                    os.unlink(f"{old}{suffix}")


def _storable(text: str) -> bool:
    """Whether SQLite can keep this text (no lone surrogate from an undecodable name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)  # replaces a name, never writes through a link


def _not_ours(path: Path | str, directory: bool) -> str | None:
    """Why this cache folder or key file must not be used (a link, not a folder or file, or
    another user's, or a key others may read or write); None when it is fine."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link; delete it and run again"
    if directory and not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a folder; delete it and run again"
    if not directory and not stat.S_ISREG(info.st_mode):
        return f"{path} is not a file; delete it and run again"
    owner = getattr(os, "getuid", None)
    if owner is not None and info.st_uid != owner():
        return f"{path} belongs to another user; delete it and run again"
    if not directory and os.name == "posix" and info.st_mode & 0o077:
        return f"{path} may be read or written by other users; delete it and run again"
    return None


def _docs(text: Any) -> list[tuple[int, str, bool, str | None, str]] | None:
    """The documents of a files row (see doc_entry); their summaries stay JSON until read."""
    if not isinstance(text, str):
        raise ValueError("a document row of the wrong shape")
    if text == NOT_STUBBABLE:
        return None
    out = []
    for entry in text.split("\x1e") if text else ():
        index, kind, valid, tag, summary = entry.split("\x1f", 4)
        out.append((int(index), kind, valid == "1", tag[1:] if tag else None, summary))
    return out


_FIELDS = (
    "rule",
    "severity",
    "message",
    "path",
    "market",
    "document",
    "field",
    "content",
    "suppressed",
    "suppression_reason",
    "baselined",
    "kind",
    "occurrence",
    "repo_path",
    "cause",
)


def _dump(finding: Finding) -> list[Any]:
    span = finding.span
    citation = finding.citation
    return [
        *(getattr(finding, name) for name in _FIELDS),
        [span.line, span.column, span.end_line, span.end_column],
        None if citation is None else [citation.source, citation.clause, citation.url],
    ]


def _findings(value: Any) -> list[Finding] | None:
    if value is None:
        return None
    out = []
    for item in value:
        *fields, span, citation = item
        if len(fields) != len(_FIELDS):
            raise ValueError("a finding of the wrong shape")
        values = dict(zip(_FIELDS, fields, strict=True))
        values["span"] = Span(*(int(n) for n in span))
        values["citation"] = None if citation is None else Citation(*citation)
        if not isinstance(values["message"], str) or not isinstance(values["rule"], str):
            raise ValueError("a finding of the wrong shape")
        out.append(Finding(**values))
    return out


def scan(path: str, row: FileRow | None) -> tuple[os.stat_result | None, bytes | None]:
    """The file's stat, and its bytes when they must be compared with the row's digest (its
    size or times have changed, or it was written too close to the last scan to trust them).
    A file the cache does not hold is not read here: it is parsed, and hashed as it is read
    (SourceFile.digest), by the engine's readers."""
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    if row is None or (not row.racy and stat_of(info) == row.stat):
        return info, None
    return info, None if not _regular(info) else _read(path)


def _regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode)


def _read(path: str) -> bytes | None:
    from compliance.loader import MAX_FILE_BYTES

    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
