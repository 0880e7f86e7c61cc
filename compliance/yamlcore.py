"""YAML parsing at C speed: libyaml's parser and composer with a YAML 1.2 core-schema resolver
of our own, and the construction of scalar values from resolved nodes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"

_fallback_yaml = None


def compose_all(text: str) -> Iterator[Any]:
    """Node trees of each document in `text`, tags resolved by the YAML 1.2 core schema."""
    if _CParser is None:  # pragma: no cover - no C extension on this interpreter
        global _fallback_yaml
        if _fallback_yaml is None:
            from ruamel.yaml import YAML

            _fallback_yaml = YAML(typ="safe", pure=True)
        yield from _fallback_yaml.compose_all(text)
        return
    parser = _Parser(text)
    try:
        while parser.check_node():
            yield parser.get_node()
    finally:
        parser.dispose()


try:
    # libyaml's parser and composer, as compiled for ruamel.yaml (ruamel.yaml.clib). Used
    # directly with our own resolver: ruamel's YAML() builds a new loader class and a versioned
    # resolver per call, which cost 4x the parse itself (bench/lint_speed.py).
    from _ruamel_yaml import CParser as _CParser
except ImportError:  # pragma: no cover
    _CParser = None

if _CParser is not None:

    class _Parser(_CParser):  # type: ignore[misc,valid-type]
        def descend_resolver(self, parent: Any, index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

        def resolve(self, kind: Any, value: str | None, implicit: Any) -> Any:
            # a shared Tag per tag: a node given a string builds and decodes its own Tag
            if value is None:
                return _TAGS[SEQ_TAG if kind.__name__ == "SequenceNode" else MAP_TAG]
            return _TAGS[resolve_plain(value) if implicit[0] else STR_TAG]


SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _shared_tags() -> dict[str, Any]:
    from ruamel.yaml.tag import Tag

    tags = (
        STR_TAG,
        SEQ_TAG,
        MAP_TAG,
        NULL_TAG,
        BOOL_TAG,
        INT_TAG,
        FLOAT_TAG,
        TIMESTAMP_TAG,
        MERGE_TAG,
    )
    return {tag: Tag(suffix=tag) for tag in tags}


_TAGS = _shared_tags()

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), plus dates as
# ruamel.yaml resolves them, so that `expires: 2026-12-31` is a date
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_DATE = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?"
)
_MAYBE_NOT_TEXT = frozenset("0123456789+-.~nNtTfF<")


def tag_of(node: Any) -> str | None:
    """A node's tag. `node.tag` re-decodes the tag's text on every new node (a quarter of the
    lint time in a profile); the tags our resolver gives are plain strings already."""
    ctag = node.ctag
    if ctag is None:
        return None
    return ctag.suffix if ctag.handle is None else str(ctag)


def resolve_plain(value: str) -> str:
    """The tag of a plain (unquoted) scalar."""
    if value[:1] not in _MAYBE_NOT_TEXT and value:
        return STR_TAG  # the common case, decided by the first character
    if value in _NULLS:
        return NULL_TAG
    if value in _BOOLS:
        return BOOL_TAG
    if value == "<<":
        return MERGE_TAG
    if _INT.fullmatch(value):
        return INT_TAG
    if _FLOAT.fullmatch(value):
        return FLOAT_TAG
    if _DATE.fullmatch(value):
        return TIMESTAMP_TAG
    return STR_TAG


def scalar_value(node: Any) -> Any:
    """The value of a non-string scalar; unknown tags (`!custom x`) keep their text."""
    tag, value = tag_of(node), node.value
    try:
        if tag == NULL_TAG:
            return None
        if tag == BOOL_TAG:
            return _BOOLS.get(value, value)
        if tag == INT_TAG:
            return int(value, 0) if value[:2] in ("0o", "0x") else int(value)
        if tag == FLOAT_TAG:
            return _float(value)
        if tag == TIMESTAMP_TAG:
            return _timestamp(value)
    except ValueError:
        pass
    return value


def _float(value: str) -> float:
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(value)


def _timestamp(value: str) -> dt.date | dt.datetime:
    if len(value) <= 10:
        year, month, day = (int(part) for part in value.split("-"))
        return dt.date(year, month, day)
    text = re.sub(r"[ \t]+", " ", value.replace("t", "T")).replace("T", " ", 1)
    text = re.sub(r" ?(Z|[-+][0-9]{1,2}(?::?[0-9]{2})?)$", lambda m: _offset(m.group(1)), text)
    return dt.datetime.fromisoformat(text)


def _offset(zone: str) -> str:
    if zone == "Z":
        return "+00:00"
    sign, rest = zone[0], zone[1:].replace(":", "")
    hours, minutes = rest[:-2] if len(rest) > 2 else rest, rest[-2:] if len(rest) > 2 else "00"
    return f"{sign}{int(hours):02d}:{minutes}"
