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
of another format, or not this user's: each user has a secret key (in the user cache folder),
and a cache file whose owner mark was not made with it is emptied before use, so a cache file
committed to a repo, or restored from another machine's CI cache, cannot hide a finding.
Several runs may share it: each run's changes are written in one transaction, and one that
cannot get the write lock in time leaves them unwritten (the next run computes them again).
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
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.findings import Citation, Finding, Span

CACHE_DIR = ".compliance_cache"
FORMAT = 2
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
    findings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    path TEXT NOT NULL, doc INTEGER NOT NULL, findings TEXT NOT NULL, reads TEXT NOT NULL,
    signature TEXT NOT NULL,
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
    docs: list[tuple[int, str, bool, dict[str, Any]]] | str | None
    findings: list[Finding] | None  # the file's own findings (file rules), None: not known
    # per document (its index in the file): its findings, what checking it read of the other
    # documents (read_keys) and the signature of what those reads gave (see incremental)
    reads: dict[int, Result]


@dataclass(slots=True)
class Result:
    findings: list[Finding] | str  # as JSON text until asked for (see found)
    keys: str  # the reads' keys, fields joined by \x1f, keys by \x1e
    signature: str

    def found(self) -> list[Finding]:
        if isinstance(self.findings, str):
            self.findings = _findings(json.loads(self.findings)) if self.findings else []
        return self.findings or []


def read_keys(text: str) -> list[tuple[str, ...]]:
    return [tuple(key.split("\x1f")) for key in text.split("\x1e")] if text else []


def keys_text(keys: Iterable[tuple[str, ...]]) -> str:
    return "\x1e".join("\x1f".join(key) for key in keys)


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

    key = _user_key()
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


def _user_key() -> bytes | None:
    """This user's secret for the caches' owner marks, made on first use; None when the user
    cache folder cannot hold it."""
    folder = _user_folder()
    path = os.path.join(folder, "lint-cache.key")
    try:
        with open(path, "rb") as handle:
            key = handle.read()
        if len(key) == 32:
            return key
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
        with open(path, "rb") as handle:
            key = handle.read()
        return key if len(key) == 32 else None
    except OSError:
        return None


class LintCache:
    """One configuration's cache file, opened for one run."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path
        self.rows: dict[str, FileRow] = {}
        self.started_ns = time.time_ns()

    @classmethod
    def open(cls, root: Path, key: str) -> tuple[LintCache | None, str | None]:
        """The cache of this configuration under `root`, and None; or None and why there is
        none (the folder cannot be written, no user key): the run then goes on without."""
        owner_key = _user_key()
        if owner_key is None:
            return None, "the user cache folder cannot hold the cache key"
        folder = root / CACHE_DIR
        try:
            folder.mkdir(exist_ok=True)
            for name, text in ((".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)):
                if not (folder / name).exists():
                    _write_atomic(folder / name, text)
        except OSError as exc:
            return None, f"{folder} cannot be written ({exc.strerror or exc})"
        path = folder / f"lint-{key}.sqlite3"
        owner = hmac.new(owner_key, f"compliance lint cache {key}".encode(), "blake2b").hexdigest()
        for attempt in (1, 2):
            try:
                cache = cls(_connect(path), path)
                cache._own(owner)
                cache._load()
                _prune(folder, keep=path)
                return cache, None
            except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError) as exc:
                # unreadable or not ours as expected: start again from an empty file
                with contextlib.suppress(Exception):
                    cache.db.close()  # type: ignore[possibly-undefined]
                for suffix in ("", "-wal", "-shm", "-journal"):
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
        query = "SELECT path, size, mtime_ns, ctime_ns, ino, racy, digest, docs FROM files"
        for path, size, mtime, ctime, ino, racy, digest, docs in self.db.execute(query):
            if not isinstance(path, str) or not isinstance(digest, str):
                raise ValueError("a file row of the wrong shape")
            stat = (int(size), int(mtime), int(ctime), int(ino))
            rows[path] = FileRow(stat, bool(racy), digest, _docs(json.loads(docs)), None, {})
        self.rows = rows

    def results(self, paths: list[str]) -> None:
        """Read the findings and reads of these files' documents and of the files themselves
        into their rows (only those a run may take from the cache are read)."""
        db = self.db
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                for path, findings in db.execute(
                    f"SELECT path, findings FROM files WHERE path IN ({marks})", chunk
                ):
                    row = self.rows.get(path)
                    if row is not None:
                        row.findings = _findings(json.loads(findings))
                for path, doc, findings, reads, signature in db.execute(
                    "SELECT path, doc, findings, reads, signature FROM results "
                    f"WHERE path IN ({marks})",
                    chunk,
                ):
                    row = self.rows.get(path)
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
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (
                            path,
                            *row.stat,
                            int(row.racy or row.stat[1] >= self.started_ns - RACY_NS),
                            row.digest,
                            row.docs
                            if isinstance(row.docs, str)
                            else json.dumps(
                                None if row.docs is None else [list(d) for d in row.docs]
                            ),
                            json.dumps(
                                None if row.findings is None else [_dump(f) for f in row.findings]
                            ),
                        )
                        for path, row in changed.items()
                    ),
                )
                db.executemany(
                    "UPDATE files SET size = ?, mtime_ns = ?, ctime_ns = ?, ino = ?, racy = ? "
                    "WHERE path = ?",
                    (
                        (*row.stat, int(row.stat[1] >= self.started_ns - RACY_NS), path)
                        for path, row in restat.items()
                    ),
                )
                paths = list(changed)
                for start in range(0, len(paths), 500):
                    chunk = paths[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM results WHERE path IN ({marks})", chunk)
                db.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
                    (
                        (
                            path,
                            doc,
                            result.findings
                            if isinstance(result.findings, str)
                            else findings_text(result.findings),
                            result.keys,
                            result.signature,
                        )
                        for path, row in changed.items()
                        for doc, result in row.reads.items()
                    ),
                )
        except sqlite3.Error as exc:
            return f"{self.path} was not updated ({exc})"
        return None

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
            folder.glob("lint-*.sqlite3"), key=lambda p: p.stat().st_mtime_ns, reverse=True
        )
        for old in found[KEEP:]:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{old}{suffix}")


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _docs(value: Any) -> list[tuple[int, str, bool, dict[str, Any]]] | None:
    if value is None:
        return None
    out = []
    for index, kind, valid, summary in value:
        if not (isinstance(index, int) and isinstance(kind, str) and isinstance(summary, dict)):
            raise ValueError("a document row of the wrong shape")
        out.append((index, kind, bool(valid), summary))
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
    import stat

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
