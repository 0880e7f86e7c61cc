#!/usr/bin/env python3
"""atheris harness for the YAML loader: `compliance.loader.parse_bytes` on arbitrary bytes.

    pip install atheris
    python fuzz/loader_fuzz.py fuzz/corpus/loader -runs=100000

The loader reads every YAML file the linter touches and promises never to raise for bad
content: syntax errors, non-UTF-8 bytes, files over 1 MiB, alias bombs, deep nesting,
duplicate and non-scalar keys all become `Problem`s on the `SourceFile`. So no exception at all
may escape `test_one_input`; libFuzzer reports any that does as a crash and writes the input to
crash-<sha1>. The harness also asks each document for the place of every value it holds
(`YamlDocument.span`, `text_span`), which is what findings are reported with.

Without atheris the module still imports, and given files or folders it replays them through
the same function (`python fuzz/loader_fuzz.py crash-1234`), to reproduce a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import atheris
except ImportError:  # replay only: see main()
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["compliance"]):
        from compliance.loader import SourceFile, parse_bytes
else:
    from compliance.loader import SourceFile, parse_bytes

MAX_PATHS = 200  # places asked per document: enough to reach every node of a fuzzed input


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def test_one_input(data: bytes) -> None:
    # sniff=False: parse even text without the word "kind" (as config and pack files are read)
    source = parse_bytes(SourceFile(Path("fuzz.yaml"), "fuzz.yaml"), data, sniff=False)
    for problem in source.problems:
        source.line_text(problem.span.line)
    for doc in source.documents:
        for count, (path, value) in enumerate(_paths(doc.data)):
            if count >= MAX_PATHS:
                break
            doc.span(path)
            doc.span(path, key=True)
            if isinstance(value, str) and value:
                doc.text_span(path, 0, len(value))
                doc.text_span(path, len(value) // 2, len(value))


def _replay(args: list[str]) -> int:
    files = []
    for arg in args:
        path = Path(arg)
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        test_one_input(path.read_bytes())
    print(f"{len(files)} input(s) replayed without an exception")
    return 0


def main() -> int:
    if atheris is None:
        inputs = [a for a in sys.argv[1:] if not a.startswith("-")]
        if inputs:
            return _replay(inputs)
        print(
            "atheris is not installed: `pip install atheris` (see fuzz/README.md)", file=sys.stderr
        )
        return 2
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
