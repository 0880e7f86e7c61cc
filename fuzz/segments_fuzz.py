#!/usr/bin/env python3
"""atheris harness for SMS segment counting: `compliance.segments` on arbitrary text.

    pip install atheris
    python fuzz/segments_fuzz.py fuzz/corpus/segments -runs=100000

`analyze()` and `split()` take any Python string, lone surrogates included (the CLI reads
argv and stdin with surrogateescape); their only documented exception is ValueError for a
`udh` other than "8bit" or "16bit". The first byte of an input picks the udh (including an
invalid one) and how the rest becomes text: UTF-16-LE with lone surrogates allowed (any code
point), or UTF-8 with undecodable bytes kept as surrogate escapes. No other exception may
escape `test_one_input`; libFuzzer reports any that does as a crash.

Without atheris the module still imports, and given files or folders it replays them through
the same function (`python fuzz/segments_fuzz.py crash-1234`), to reproduce a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import atheris
except ImportError:  # replay only: see main()
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["compliance"]):
        from compliance.segments import analyze, is_gsm7, non_gsm_positions, split
else:
    from compliance.segments import analyze, is_gsm7, non_gsm_positions, split

UDH = ("8bit", "16bit", "8bit", "7bit")  # the last is invalid: analyze() must refuse it
VALID_UDH = ("8bit", "16bit")


def decode(data: bytes) -> tuple[str, str]:
    """(text, udh) from a fuzzer input."""
    if not data:
        return "", "8bit"
    head, body = data[0], data[1:]
    udh = UDH[head % len(UDH)]
    if head & 0x04:
        body = body[: len(body) // 2 * 2]
        return body.decode("utf-16-le", "surrogatepass"), udh
    return body.decode("utf-8", "surrogateescape"), udh


def test_one_input(data: bytes) -> None:
    text, udh = decode(data)
    non_gsm_positions(text)
    for ch in text[:16]:
        is_gsm7(ch)
    try:
        analyze(text, udh=udh)
        split(text, udh=udh)
    except ValueError:
        if udh in VALID_UDH:
            raise  # documented only for an invalid udh


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
