"""Documents x rules -> findings. The one library entry point of the linter is `lint()`."""

from __future__ import annotations

import datetime as dt
import gc
import os
import pickle
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.baseline import Baseline
from compliance.checks import fallback_clean as fallback_check
from compliance.checks import registry
from compliance.checks import suppressions as suppression_check
from compliance.checks.base import Context, Hit, RepoIndex
from compliance.config import CONFIG_NAMES, Config, check_rule_settings, load_config
from compliance.countries import ISO_3166_ALPHA2
from compliance.errors import UsageError
from compliance.findings import SEVERITIES, Finding, Span, at_or_above
from compliance.gitdiff import changed_lines, touches
from compliance.loader import SourceFile, parse_bytes, read_file
from compliance.packs import Market, Packs, Rule, load_packs, pick_citation, validate_params
from compliance.validation import Document, dotted, validate

YAML_SUFFIXES = (".yaml", ".yml")
# Above this many files, documents are released once indexed (see _lint): a parsed template
# costs ~20 KB with its node tree and model, ~3.5 KB released (100,000 templates: ~0.6 GiB peak
# instead of ~2.7, tests/test_scale.py), for no measurable time (bench/lint_memory.py --whole).
# Below it they stay whole, as they always were (at most ~40 MB), and the documents of the
# result (LintResult.index) keep their trees and models for callers that read them.
RELEASE_ABOVE_FILES = 2_000
# Below this many documents to check, one process checks them all: a forked worker costs
# about 0.1 s to start and to send its findings back (bench/lint_speed.py --parallel), more
# than it saves on a small repo. Each worker gets at least PARALLEL_MIN_PER_JOB documents.
PARALLEL_ABOVE_DOCUMENTS = 1_000
PARALLEL_MIN_PER_JOB = 500
# folders never worth walking: VCS data, environments, caches, build output
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages", "build", "dist"})


@dataclass
class LintResult:
    findings: list[Finding]
    files: int
    documents: int
    config: Config
    packs: Packs
    missing: list[str] = field(default_factory=list)
    cwd: Path = field(default_factory=Path.cwd)  # finding paths are relative to it
    skipped: list[str] = field(default_factory=list)  # given files the config leaves out
    targets: set[str] = field(default_factory=set)  # repo-relative paths reported on
    stale_baseline: list[dict[str, Any]] = field(default_factory=list)  # entries now unmatched
    # every document of the repo, valid or not; in a large repo released (see
    # RELEASE_ABOVE_FILES): places and template models are then built again when asked for
    index: RepoIndex | None = None
    diff_base: str | None = None  # --diff-base: only what changed since it was reported on
    # the repos linted one by one when a folder held others with their own compliance.yaml
    parts: list[LintResult] = field(default_factory=list)
    cache_note: str | None = None  # why the cache was off, or was not updated

    def reported(self, include_suppressed: bool = False) -> list[Finding]:
        """What reports show: suppressed and baselined findings only on request."""
        return [f for f in self.findings if include_suppressed or not _quiet(f)]

    def summary(self) -> dict[str, Any]:
        counts = Counter(f.severity for f in self.findings if not _quiet(f))
        return {
            "errors": counts["error"],
            "warnings": counts["warning"],
            "infos": counts["info"],
            "suppressed": sum(1 for f in self.findings if f.suppressed),
            "baselined": sum(1 for f in self.findings if f.baselined and not f.suppressed),
            "files": self.files,
            "documents": self.documents,
        }

    def failed(self, fail_on: str) -> bool:
        return any(at_or_above(f.severity, fail_on) for f in self.findings if not _quiet(f))

    def failing(self, fail_on: str | None) -> tuple[int, str]:
        """How many findings fail the run, and the level: `fail_on` (the command line's), else
        each repo's own `fail_on` for its findings."""
        parts = self.parts or [self]
        count = 0
        for part in parts:
            level = fail_on or part.config.model.fail_on
            count += sum(1 for f in part.reported() if at_or_above(f.severity, level))
        return count, fail_on or self.config.model.fail_on


def _quiet(finding: Finding) -> bool:
    return finding.suppressed or finding.baselined


def lint(
    paths: Iterable[str | os.PathLike[str]] = (".",),
    *,
    config_path: Path | None = None,
    markets: list[str] | None = None,
    today: dt.date | None = None,
    cwd: Path | None = None,
    config: Config | None = None,
    packs: Packs | None = None,
    diff_base: str | None = None,
    baseline: Baseline | None = None,
    jobs: int = 1,
    cache: bool = False,
) -> LintResult:
    """Lint the YAML files at `paths` with the whole repo as context.

    The config is read from `config_path`, or found by walking up from the first path; pass
    `config` (and `packs`) to use ones built in memory instead. With `diff_base`, only the
    documents changed since that git ref are reported on; with `baseline`, the findings it
    holds are marked and do not fail the run. With `jobs` above 1, the documents of a large
    repo are checked by that many processes (see _checked); with `cache`, what an earlier run
    learnt is kept in .compliance_cache/ at the repo root and taken from there where nothing
    it depends on has changed (see incremental.py): the result is the same.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be a whole number of processes, at least 1 (got {jobs!r})")
    with _cycle_collector_paused():
        if config is not None or config_path is not None:
            result, _ = _lint(
                paths,
                config_path,
                markets,
                today,
                cwd,
                config,
                packs,
                diff_base,
                baseline,
                jobs,
                cache,
            )
            return result
        parts = []
        for group in _by_repo(paths, cwd):
            pending = [group]
            while pending:  # a folder with its own compliance.yaml is a repo of its own
                part, nested = _lint(
                    pending.pop(0),
                    None,
                    markets,
                    today,
                    cwd,
                    None,
                    packs,
                    diff_base,
                    baseline,
                    jobs,
                    cache,
                )
                parts.append(part)
                pending.extend([n] for n in nested)
        return parts[0] if len(parts) == 1 else _merged(parts)


def _by_repo(
    paths: Iterable[str | os.PathLike[str]], cwd: Path | None
) -> list[list[str | os.PathLike[str]]]:
    """The given paths grouped by the repo each is in (the nearest compliance.yaml above it),
    in the order first given."""
    from compliance.config import find_config

    base = (cwd or Path.cwd()).absolute()
    groups: dict[Path | None, list[str | os.PathLike[str]]] = {}
    for path in list(paths) or ["."]:
        full = Path(os.path.normpath(base / os.fspath(path)))
        key = find_config(full) if full.exists() else None
        groups.setdefault(key, []).append(path)
    return list(groups.values())


def _merged(parts: list[LintResult]) -> LintResult:
    """One result for repos linted one by one; each keeps its own config (parts)."""
    first = parts[0]
    rules: dict[str, Rule] = {}
    markets: dict[str, Market] = {}
    index = RepoIndex()
    for part in parts:
        for ident, rule in part.packs.rules.items():
            rules.setdefault(ident, rule)
        for code, market in part.packs.markets.items():
            markets.setdefault(code, market)
        for doc in part.index.documents if part.index is not None else ():
            index.add(doc)
    findings = sorted((f for p in parts for f in p.findings), key=Finding.sort_key)
    return LintResult(
        findings,
        sum(p.files for p in parts),
        sum(p.documents for p in parts),
        first.config,
        Packs(rules, markets),
        [m for p in parts for m in p.missing],
        first.cwd,
        [s for p in parts for s in p.skipped],
        set().union(*(p.targets for p in parts)),
        [e for p in parts for e in p.stale_baseline],
        index,
        first.diff_base,
        parts,
        next((p.cache_note for p in parts if p.cache_note), None),
    )


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    # Every document stays in memory as context until the end, so the cycle collector's full
    # passes rescan an ever larger heap for garbage that reference counting already frees:
    # half the run time on 2,000 templates (bench/lint_speed.py). Paused for the run only. So a
    # check must not leave a reference cycle per document (a closure that calls itself, as in
    # checks.base._walk): it would stay in memory to the end of the run.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _lint(
    paths: Iterable[str | os.PathLike[str]],
    config_path: Path | None,
    markets: list[str] | None,
    today: dt.date | None,
    cwd: Path | None,
    config: Config | None,
    packs: Packs | None,
    diff_base: str | None,
    baseline: Baseline | None,
    jobs: int,
    use_cache: bool = False,
) -> tuple[LintResult, list[str]]:
    cwd = (cwd or Path.cwd()).absolute()
    cache_note = None
    if use_cache and (config is not None or packs is not None):
        # the cache is keyed by the config file and pack folders on disk: one built in memory
        # would not be told apart from another
        use_cache = False
        cache_note = "cache off: lint() was given a config or rule packs built in memory"
    raw = [os.fspath(p) for p in (paths or ["."])]
    given = [Path(os.path.normpath(cwd / p)) for p in raw]  # absolute, symlinks kept
    existing = [p for p in given if p.exists()]
    missing = [text for text, p in zip(raw, given, strict=True) if not p.exists()]
    if config is None:
        config = load_config(config_path, existing[0] if existing else cwd, cwd)
    if packs is None and use_cache:
        from compliance.lintcache import load_packs_cached

        packs = load_packs_cached(config.pack_dirs())
    elif packs is None:
        packs = load_packs(config.pack_dirs())
    check_rule_settings(config, packs.rules)
    enforced = _enforced_markets(markets, config)

    root = str(config.root)
    own = _own_files(config)
    links: set[str] = set()
    nested: list[str] = []
    context_paths = set(_walk(root, root, config, own, links, nested))
    own += tuple(nested)  # their files belong to them, even when a path given names one
    targets, skipped = _collect_targets(existing, root, config, own, links, context_paths)
    ordered = sorted(targets) + sorted(context_paths - targets)
    paths = _one_path_per_file(ordered) if links else ordered
    targets &= set(paths)
    changed = _changed(config, diff_base) if diff_base else None
    if changed is not None:
        targets = {p for p in targets if os.path.realpath(p) in changed}
    # Pass 1: read every file and index its documents. In a large repo each document is
    # released as soon as it is indexed, so that memory grows by a compact record per
    # document (kind, id, plain data, problems; a sender's or scope's model; the file's text)
    # rather than by its node tree and model (see RELEASE_ABOVE_FILES).
    release = len(paths) > RELEASE_ABOVE_FILES
    files: dict[str, SourceFile] = {}
    index = RepoIndex()
    target_docs: list[Document] = []
    day = today or dt.datetime.now(dt.timezone.utc).date()
    incremental, cache_note = (
        _incremental(config, enforced, str(cwd), root, release, day)
        if use_cache
        else (None, cache_note)
    )
    if incremental is not None:
        read = incremental.read(paths, jobs, index, targets)
    else:
        items = [(path, None) for path in paths]
        read = _indexed(_read_files(items, str(cwd), root, release, jobs), index)
    for path, source, docs in read:
        if source is not None:  # None: an unchanged file of the cache, not reported on
            files[path] = source
        for doc in docs:
            if path in targets and (changed is None or _doc_changed(doc, path, changed)):
                target_docs.append(doc)
            if release:
                doc.release()
        if release and source is not None:
            source.release()  # the documents that are not ours too
    # Pass 2: check the documents reported on, now that the index holds the whole repo. A
    # released document is held while it is checked: its tree is composed again from the text
    # kept only if a finding must be placed in it, and its model validated again from its data.
    runner = _Runner(packs, config, index, enforced, day)
    findings: list[Finding] = []
    if incremental is not None:
        findings = incremental.check(runner, files, targets, target_docs, jobs)
        cache_note = incremental.save() or cache_note
        incremental.cache.close()
    else:
        for path in sorted(targets):
            findings.extend(runner.file_findings(files[path]))
        for found, _ in _checked(runner, target_docs, jobs):
            findings.extend(found)
    findings.sort(key=Finding.sort_key)
    _number_repeats(findings)
    linted = {files[p].key for p in targets}
    stale: list[dict[str, Any]] = []
    if baseline is not None:
        findings, stale = baseline.apply(findings, linted)
    return LintResult(
        findings,
        len(targets),
        len(target_docs),
        config,
        packs,
        missing,
        cwd,
        skipped,
        linted,
        stale,
        index,
        diff_base,
        cache_note=cache_note,
    ), _nested_given(nested, existing)


def _indexed(
    sources: Iterable[SourceFile], index: RepoIndex
) -> Iterator[tuple[str, SourceFile, list[Document]]]:
    """Each file with its documents, validated and added to the index."""
    for source in sources:
        docs = []
        for yaml_doc in source.documents:
            doc = validate(yaml_doc)
            if doc is not None:
                index.add(doc)
                docs.append(doc)
        yield source._path, source, docs


def _incremental(
    config: Config,
    enforced: frozenset[str] | None,
    cwd: str,
    root: str,
    release: bool,
    day: dt.date,
) -> tuple[Any, str | None]:
    """The cache of this configuration at the repo root, ready for a run; or None and why it
    is off (the run goes on without it)."""
    from compliance import incremental, lintcache

    key = incremental.cache_key(config, enforced, _relative(cwd, root), config.pack_dirs())
    cache, why = lintcache.LintCache.open(Path(root), key)
    if cache is None:
        return None, f"cache off: {why}"
    return incremental.Incremental(cache, root, cwd, release, day), None


def _read_files(
    items: list[tuple[str, bytes | None]], cwd: str, root: str, release: bool, jobs: int
) -> Iterator[SourceFile]:
    """Each file read and parsed, in order. Many files with more than one job: the list is cut
    into `jobs` consecutive parts, read by this process and by forked copies of it, which send
    their files back released (text, problems and plain data: what a large repo keeps of a
    file anyway, see RELEASE_ABOVE_FILES)."""
    jobs = min(jobs, len(items) // PARALLEL_MIN_PER_JOB or 1)
    if not release or jobs <= 1 or not _can_fork():
        for path, raw in items:
            yield _read(path, cwd, root, raw)
        return
    size = -(-len(items) // jobs)
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    children: list[tuple[int, int]] = []
    try:
        for part in parts[1:]:
            children.append(_fork(lambda part=part: [_released(p, r, cwd, root) for p, r in part]))
        for path, raw in parts[0]:
            yield _read(path, cwd, root, raw)
        while children:
            pid, fd = children.pop(0)
            yield from _collect(pid, fd)
    finally:
        for pid, fd in children:  # this process failed or stopped reading: stop the others
            _stop(pid, fd)


def _read(path: str, cwd: str, root: str, raw: bytes | None = None) -> SourceFile:
    """A file read and parsed; from `raw`, its bytes, when they were read already."""
    display = _display(path, cwd)
    if raw is None:
        source = read_file(path, display)
    else:
        source = parse_bytes(SourceFile(path, display), raw)
    source.key = _relative(path, root)
    return source


def _released(path: str, raw: bytes | None, cwd: str, root: str) -> SourceFile:
    source = _read(path, cwd, root, raw)
    source.release()
    return source


def _checked(
    runner: _Runner,
    docs: list[Document],
    jobs: int,
    record: Callable[[set[tuple[str, ...]]], Any] | None = None,
) -> list[tuple[list[Finding], Any]]:
    """The findings of `docs`, in their order. With more than one job and more than
    PARALLEL_ABOVE_DOCUMENTS documents, the list is cut into `jobs` consecutive parts: this
    process checks the first, and a forked copy of it each other (it inherits the index and
    the packs as they are, so nothing is read or built twice), which sends its findings back
    through a pipe. The parts are joined in order, so the result is the list one process would
    have made. Fork only: where it is missing or unsafe (Windows, macOS) one process checks
    everything."""
    jobs = min(jobs, len(docs) // PARALLEL_MIN_PER_JOB or 1)
    if jobs <= 1 or len(docs) <= PARALLEL_ABOVE_DOCUMENTS or not _can_fork():
        return _check_part(runner, docs, record)
    size = -(-len(docs) // jobs)
    parts = [docs[i : i + size] for i in range(0, len(docs), size)]
    children: list[tuple[int, int]] = []
    try:
        for part in parts[1:]:
            children.append(_fork(lambda part=part: _check_part(runner, part, record)))
        found = _check_part(runner, parts[0], record)
        for pid, fd in children:
            found.extend(_collect(pid, fd))
        children = []
    finally:
        for pid, fd in children:  # this process failed: stop the others
            _stop(pid, fd)
    return found


def _check_part(
    runner: _Runner,
    docs: list[Document],
    record: Callable[[set[tuple[str, ...]]], Any] | None,
) -> list[tuple[list[Finding], Any]]:
    """Each document's findings; with `record`, also what `record` makes of what checking it
    read of the others (RepoIndex.reads), for the lint cache: made where the document was
    checked, in a worker for the documents of a worker."""
    out: list[tuple[list[Finding], Any]] = []
    index = runner.index
    for doc in docs:
        if record is not None:
            index.reads = set()
        try:
            with _held(doc):
                found = runner.document_findings(doc)
            reads = index.reads
        finally:
            index.reads = None
        out.append((found, None if reads is None or record is None else record(reads)))
    return out


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _fork(work: Callable[[], list[Any]]) -> tuple[int, int]:
    """A forked copy of this process that runs `work` and sends back what it returns, through
    a pipe: (pid, the pipe's end to read)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: work, send, and leave without running the parent's exit code
        code = 0
        try:
            os.close(read)
            try:
                payload = pickle.dumps((True, work()), protocol=5)
            except BaseException:  # noqa: BLE001 - reported by the parent, with its traceback
                payload = pickle.dumps((False, traceback.format_exc()), protocol=5)
            with os.fdopen(write, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001 - the parent reports a child that sent nothing
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int, fd: int) -> list[Any]:
    with os.fdopen(fd, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"a lint worker process ended without its result (wait status {status})")
    done, found = pickle.loads(payload)  # from our own fork, through our own pipe
    if not done:
        raise RuntimeError(f"a lint worker process failed:\n{found}")
    return found


def _stop(pid: int, fd: int) -> None:
    with suppress(OSError):
        os.close(fd)
    with suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with suppress(OSError):
        os.waitpid(pid, 0)


@contextmanager
def _held(doc: Document) -> Iterator[None]:
    """While a released document is checked, keep what it builds again (its tree, composed for
    the first finding to place, and its model), and release it afterwards. Nothing to do for a
    document that was not released, or is held already (a template that is its own fallback)."""
    if doc.yaml.held or not doc.yaml.released:
        yield
        return
    doc.hold()
    try:
        yield
    finally:
        doc.release()


def _enforced_markets(markets: list[str] | None, config: Config) -> frozenset[str] | None:
    chosen = markets if markets else config.model.markets
    if chosen is None:
        return None
    for code in chosen:
        if code not in ISO_3166_ALPHA2:
            raise UsageError(
                f"--market {code!r} is not an ISO 3166-1 alpha-2 country code "
                "(for example US, GB, IN)"
            )
    return frozenset(chosen)


def _changed(config: Config, ref: str) -> dict[str, set[int] | None]:
    return {os.path.realpath(p): lines for p, lines in changed_lines(config.root, ref).items()}


def _doc_changed(doc: Document, path: str, changed: dict[str, set[int] | None]) -> bool:
    span = doc.yaml.span(())
    return touches(changed[os.path.realpath(path)], span.line, span.end_line)


def _relative(path: str, base: str) -> str:
    """`path` relative to `base` with forward slashes, or `path` itself when outside it."""
    if path == base:
        return "."
    prefix = base.rstrip(os.sep) + os.sep
    rel = path[len(prefix) :] if path.startswith(prefix) else path
    return rel.replace(os.sep, "/")


def _display(path: str, cwd: str) -> str:
    """What reports print: relative to the working folder, with ../ when outside it."""
    if _inside(path, cwd):
        return _relative(path, cwd)
    try:
        return os.path.relpath(path, cwd).replace(os.sep, "/")
    except ValueError:  # another drive on Windows
        return path.replace(os.sep, "/")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _own_files(config: Config) -> tuple[str, ...]:
    """The config file and pack folders: YAML under the root that is not template-repo data."""
    own = [str(config.path)] if config.path else []
    own += [str(folder) for folder in config.pack_dirs()]
    return tuple(own)


def _nested_given(nested: list[str], given: list[Path]) -> list[str]:
    """The nested repos to lint apart: those inside a folder given (linting the project root
    lints the repos below it, each with its own config)."""
    return [n for n in nested if any(os.path.isdir(g) and _inside(n, str(g)) for g in given)]


def _walk(
    folder: str,
    root: str,
    config: Config,
    own: tuple[str, ...],
    links: set[str],
    nested: list[str] | None = None,
) -> Iterator[str]:
    """YAML files under `folder` that the config does not exclude, in name order; symlinked
    files are also added to `links`. Hidden and tool folders below `folder` are skipped (a
    folder given explicitly is walked whatever its name); symlinked folders are not followed.
    A folder below the root with a compliance.yaml of its own is another repo: it is not
    walked, and is added to `nested`."""
    stack = [folder]
    excludes = bool(config.model.exclude)  # none: no path to make per file
    own_paths = frozenset(own)  # _is_own, for every file of a large repo
    own_prefixes = tuple(item.rstrip(os.sep) + os.sep for item in own)
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        folders = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if name in SKIP_DIRS:
                    continue
                if nested is not None and _is_repo(entry.path):
                    nested.append(entry.path)
                    continue
                folders.append(entry.path)
            elif name.endswith(YAML_SUFFIXES):
                path = entry.path
                if excludes and config.excluded(_relative(path, root)):
                    continue
                if path not in own_paths and not path.startswith(own_prefixes):
                    if entry.is_symlink():
                        links.add(path)
                    yield path
        stack.extend(reversed(folders))


def _is_repo(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, name)) for name in CONFIG_NAMES)


def _is_own(path: str, own: tuple[str, ...]) -> bool:
    return any(_inside(path, item) for item in own)


def _collect_targets(
    paths: list[Path],
    root: str,
    config: Config,
    own: tuple[str, ...],
    links: set[str],
    context: set[str],
) -> tuple[set[str], list[str]]:
    """The files to report on, and the given files that the config leaves out."""
    targets: set[str] = set()
    skipped: list[str] = []
    for given in paths:
        path = str(given)
        if os.path.isdir(path):
            found = context if path == root else _walk(path, root, config, own, links)
            targets.update(p for p in found if config.included(_relative(p, root)))
        elif config.included(_relative(path, root)) and not _is_own(path, own):
            targets.add(path)
            if os.path.islink(path) or not _inside(path, root):
                links.add(path)
        else:
            skipped.append(path)
    return targets, skipped


def _one_path_per_file(paths: list[str]) -> list[str]:
    """Drop paths that reach a file already listed (symlinks); the first listed wins."""
    seen: set[tuple[int, int]] = set()
    kept: list[str] = []
    for path in paths:
        try:
            info = os.stat(path)
            identity = (info.st_dev, info.st_ino)  # one call; realpath lstats every folder
        except OSError:
            kept.append(path)  # read_file reports it
            continue
        if identity not in seen:
            seen.add(identity)
            kept.append(path)
    return kept


def _number_repeats(findings: list[Finding]) -> None:
    """Identical findings in one document (the same placeholder twice) get an ordinal, so
    that each keeps a fingerprint of its own; numbering follows their order in the file."""
    counts: Counter[str] = Counter()
    for i, finding in enumerate(findings):
        key = finding.fingerprint
        counts[key] += 1
        if counts[key] > 1:
            findings[i] = finding.with_(occurrence=counts[key])


def _superseded(found: list[Finding], rules: dict[str, Rule]) -> list[Finding]:
    """Without the findings another finding on the same field (and about the same cause,
    where it names one) supersedes, by its rule's `supersedes`: one cause, one finding."""
    replaced = {
        (other, f.field, f.cause)
        for f in found
        for other in (rules[f.rule].model.supersedes if f.rule in rules else ())
    }
    if not replaced:
        return found
    return [
        f
        for f in found
        if (f.rule, f.field, None) not in replaced and (f.rule, f.field, f.cause) not in replaced
    ]


def _type_of(sender: Document | None) -> str | None:
    """A sender's type as rules' sender_types name them; anything else (a list, a number: a
    schema error reported on its own) is no type, and no sender_types holds it."""
    kind = sender.data.get("type") if sender is not None else None
    return kind if isinstance(kind, str) else None


# a prepared rule run (see _Runner._steps): the rule, its check function, its parameters,
# its market (None for a generic rule) and that market's context
_Step = tuple[Rule, Callable[..., Iterator[Hit]], Any, Market | None, Context]


_MERGED_LATER = object()  # a step whose parameters are merged when it first runs


class _Runner:
    def __init__(
        self,
        packs: Packs,
        config: Config,
        index: RepoIndex,
        enforced: frozenset[str] | None,
        today: dt.date,
    ) -> None:
        self.packs = packs
        self.config = config
        self.index = index
        self.enforced = enforced
        self.today = today
        self.kinds = registry()
        self.generic = [
            r for r in packs.generic_rules() if self.kinds[r.model.check.kind].SCOPE == "document"
        ]
        self.file_rules = [
            r for r in packs.generic_rules() if self.kinds[r.model.check.kind].SCOPE == "file"
        ]
        self.post = {
            r.model.check.params.get("report"): r
            for r in packs.rules.values()
            if r.model.check.kind == suppression_check.KIND
        }
        self.known = frozenset(packs.markets)
        self._params: dict[tuple[str, str | None], Any] = {}
        self._contexts: dict[str | None, Context] = {}
        self._rule_filters: dict[str, tuple[bool, frozenset[str], Any, Any]] = {}
        self._by_kind: dict[tuple[str | None, str], list[Rule]] = {}
        self._applicable_memo: dict[tuple[str | None, tuple[Any, ...]], list[Rule]] = {}
        self._steps_memo: dict[tuple[str | None, tuple[Any, ...]], list[_Step]] = {}
        self._may_be_off = bool(config.model.ignore or config.model.rules)
        # whether a document's profile needs index.commercial (a sender look-up per template)
        self._reads_commercial = any(
            r.model.applies_to.commercial_only for r in packs.rules.values()
        )

    def context(self, market: Market | None) -> Context:
        key = market.code if market else None
        if key not in self._contexts:
            self._contexts[key] = Context(
                self.index,
                market,
                self.known,
                self.enforced,
                self.today,
                self.findings_in,
                self.packs.markets,
            )
        return self._contexts[key]

    def file_findings(self, source: SourceFile) -> Iterator[Finding]:
        ctx = self.context(None)
        for rule in self.file_rules:
            if self.config.rule_off(rule.id, source.key):
                continue
            kind = self.kinds[rule.model.check.kind]
            for hit in kind.check(source, self.params(rule, None), ctx):
                assert hit.span is not None
                yield self._finding(rule, None, hit, source, hit.span, None, None)

    def document_findings(self, doc: Document) -> list[Finding]:
        rel = doc.yaml.source.key
        found: list[Finding] = []
        profile = self._profile(doc)
        self._run_steps(self._steps(None, profile), doc, rel, found)
        if doc.valid:
            for code in self.index.effective(doc, "markets"):
                market = self.packs.markets.get(code)
                if market is None or (self.enforced is not None and code not in self.enforced):
                    continue
                self._run_steps(self._steps(code, profile), doc, rel, found)
        return self._suppress(doc, rel, _superseded(found, self.packs.rules))

    def _steps(self, code: str | None, profile: tuple[Any, ...]) -> list[_Step]:
        """What checking a document of this profile in market `code` (None: the generic
        rules) runs, prepared once per profile and market: each applicable rule with its check
        function, its merged parameters and the market's context, leaving out the rules whose
        check reads no document of this kind. Checking a document is then a call per step."""
        key = (code, profile)
        found = self._steps_memo.get(key)
        if found is None:
            market = self.packs.markets[code] if code is not None else None
            ctx = self.context(market)
            found = []
            for rule in self._applicable(code, profile):
                kind = self.kinds[rule.model.check.kind]
                if profile[0] not in getattr(kind, "DOCUMENTS", (profile[0],)):
                    continue  # a check of senders' fields has nothing to read in a template
                # a rule the config turns off everywhere gets its parameters merged only if a
                # fallback's check runs it (findings_in), as when they were merged per run
                off = self._may_be_off and self.config.rule_off_everywhere(rule.id)
                params = _MERGED_LATER if off else self.params(rule, market)
                found.append((rule, kind.check, params, market, ctx))
            self._steps_memo[key] = found
        return found

    def _run_steps(
        self, steps: list[_Step], doc: Document, rel: str, out: list[Finding], off: bool = True
    ) -> None:
        """Each step's findings in `doc`, added to `out`; with `off`, leaving out the rules the
        config turns off for the file."""
        may_be_off = off and self._may_be_off
        for rule, check, params, market, ctx in steps:
            if may_be_off and self.config.rule_off(rule.id, rel):
                continue
            if params is _MERGED_LATER:
                params = self.params(rule, market)
            for hit in check(doc, params, ctx):
                out.append(self._hit_finding(rule, market, hit, doc))

    def _rules_for(self, code: str | None, kind: str) -> list[Rule]:
        """The generic rules (code None) or a market's rules that apply to a kind of document,
        listed once per market and kind rather than filtered per document."""
        key = (code, kind)
        found = self._by_kind.get(key)
        if found is None:
            rules = (
                self.generic
                if code is None
                else [self.packs.rules[r] for r in self.packs.markets[code].rules]
            )
            found = self._by_kind[key] = [r for r in rules if kind in r.model.applies_to.kinds]
        return found

    def findings_in(self, doc: Document, code: str | None) -> list[Finding]:
        """What the generic rules and market `code`'s rules find in `doc` (the generic rules
        alone for None), one finding per cause (`supersedes`) and its suppressions applied:
        what a fallback sent in that market would be judged by."""
        market = self.packs.markets.get(code) if code is not None else None
        if (code is not None and market is None) or not doc.valid:
            return []
        rel = doc.yaml.source.key
        found: list[Finding] = []
        with _held(doc):  # a fallback: another document, released in a large repo
            profile = self._profile(doc)
            for rule in self._applicable(None, profile):
                # a fallback's own fallback is judged where it is named, not through this one
                # (and two templates that fall back to each other would never end)
                if rule.model.check.kind == fallback_check.KIND:
                    continue
                if not self.config.rule_off(rule.id, rel):
                    found.extend(self._run(rule, doc, None))
            if market is not None:
                self._run_steps(self._steps(market.code, profile), doc, rel, found, off=False)
            found = _superseded(found, self.packs.rules)
            if doc.data.get("suppress"):
                self.index.note_today()
            marked, _, _ = suppression_check.apply(doc, found, self.today, self.packs.rules)
        return [f for f in marked if not f.suppressed]

    def _profile(self, doc: Document) -> tuple[Any, ...]:
        """Every fact about a document that any rule's applies_to reads, computed once per
        document: rules apply alike to documents with equal profiles (see _applicable)."""
        index = self.index
        if doc.kind == "sender":
            sender: Document | None = doc
        else:
            ident = doc.data.get("sender")
            sender = index.get("sender", ident) if isinstance(ident, str) else None
        return (
            doc.kind,
            doc.valid,
            frozenset(index.effective(doc, "channels")),
            frozenset(index.effective(doc, "purposes")),
            index.commercial(doc) if self._reads_commercial else None,
            doc.data.get("commercial") is False,
            _type_of(sender),
        )

    def _applicable(self, code: str | None, profile: tuple[Any, ...]) -> list[Rule]:
        """The generic rules (code None) or market `code`'s rules that apply to documents of
        this profile, in pack order: decided once per distinct profile and market, not per
        rule per document (a repo of 10,000 templates has a handful of profiles)."""
        key = (code, profile)
        found = self._applicable_memo.get(key)
        if found is None:
            found = [r for r in self._rules_for(code, profile[0]) if self._applies(r, profile)]
            self._applicable_memo[key] = found
        return found

    def _applies(self, rule: Rule, profile: tuple[Any, ...]) -> bool:
        kind, valid, channels, purposes, commercial, noncommercial, sender_type = profile
        needs_valid, kinds, rule_channels, rule_purposes = self._filters(rule)
        if (needs_valid and not valid) or kind not in kinds:
            return False
        if rule_channels is not None and rule_channels.isdisjoint(channels):
            return False
        if rule_purposes is not None and rule_purposes.isdisjoint(purposes):
            return False
        applies = rule.model.applies_to
        if applies.commercial_only and not commercial:
            return False
        if applies.declared_noncommercial and not noncommercial:
            return False
        return applies.sender_types is None or sender_type in applies.sender_types

    def _filters(self, rule: Rule) -> tuple[bool, frozenset[str], Any, Any]:
        """A rule's applies_to as sets, computed once per rule (asked per rule per document)."""
        found = self._rule_filters.get(rule.id)
        if found is None:
            applies = rule.model.applies_to
            found = (
                getattr(self.kinds[rule.model.check.kind], "NEEDS_VALID", True),
                frozenset(applies.kinds),
                None if applies.channels is None else frozenset(applies.channels),
                None if applies.purposes is None else frozenset(applies.purposes),
            )
            self._rule_filters[rule.id] = found
        return found

    def params(self, rule: Rule, market: Market | None) -> Any:
        key = (rule.id, market.code if market else None)
        if key not in self._params:
            merged = dict(rule.model.check.params)
            if market is not None:
                merged.update(market.rules[rule.id].params)
            settings = self.config.rule_settings(rule.id)
            if settings is not None:
                merged.update(settings.params)
            if merged == rule.model.check.params:
                self._params[key] = rule.params
            else:
                self._params[key] = validate_params(
                    self.kinds[rule.model.check.kind], merged, str(rule.path)
                )
        return self._params[key]

    def _run(self, rule: Rule, doc: Document, market: Market | None) -> Iterator[Finding]:
        kind = self.kinds[rule.model.check.kind]
        if doc.kind not in getattr(kind, "DOCUMENTS", (doc.kind,)):
            return  # a check of senders' fields has nothing to read in a template
        ctx = self.context(market)
        for hit in kind.check(doc, self.params(rule, market), ctx):
            yield self._hit_finding(rule, market, hit, doc)

    def _hit_finding(self, rule: Rule, market: Market | None, hit: Hit, doc: Document) -> Finding:
        if hit.span is not None:
            span = hit.span
        elif hit.text is not None:
            span = doc.text_span(hit.path, *hit.text)
        else:
            span = doc.span(hit.path, key=hit.key)
        finding = self._finding(
            rule, market, hit, doc.yaml.source, span, doc.id, dotted(hit.path) or None, doc
        )
        return finding.with_(kind=doc.kind)

    def _finding(
        self,
        rule: Rule,
        market: Market | None,
        hit: Hit,
        source: SourceFile,
        span: Span,
        document: str | None,
        field_name: str | None,
        doc: Document | None = None,
    ) -> Finding:
        severity = rule.model.severity
        citations = rule.model.citations
        if market is not None:
            entry = market.rules[rule.id]
            severity = entry.severity or severity
            if entry.citations:
                citations = entry.citations
        citation = (
            hit.citation
            or pick_citation(
                citations,
                cause=hit.cause,
                channels=self.index.effective(doc, "channels") if doc is not None else [],
                markets=[market.code]
                if market is not None
                else (self.index.effective(doc, "markets") if doc is not None else []),
            ).to_citation()
        )
        settings = self.config.rule_settings(rule.id)
        if settings is not None and settings.severity:
            severity = settings.severity
        assert severity in SEVERITIES
        return Finding(
            rule.id,
            severity,
            hit.message,
            source.rel,
            span,
            market.code if market else None,
            document,
            field_name,
            citation,
            hit.content,
            repo_path=source.key,
            cause=hit.cause,
        )

    def _suppress(self, doc: Document, rel: str, found: list[Finding]) -> list[Finding]:
        if doc.data.get("suppress"):  # expiry dates are judged on today's
            self.index.note_today()
        found, expired, unused = suppression_check.apply(doc, found, self.today, self.packs.rules)
        for report, hits in (("expired", expired), ("unused", unused)):
            rule = self.post.get(report)
            if rule is None or self.config.rule_off(rule.id, rel):
                continue
            found.extend(self._hit_finding(rule, None, hit, doc) for hit in hits)
        return found
