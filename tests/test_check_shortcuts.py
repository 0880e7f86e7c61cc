"""The shortcuts the checks take for speed find what the plain matching finds.

text_match skips the scan of a rule's forbidden terms over an ASCII text none of whose words
starts a term (`_first_words`); these tests hold it to the plain scan over random texts built
from the shipped packs' own terms, their pieces, other cases and the characters that border
words.
"""

from __future__ import annotations

import re
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.checks import text_match
from compliance.packs import load_packs, shipped_pack_dir


@cache
def shipped_term_lists() -> list[tuple[str, ...]]:
    packs = load_packs([])
    found = {
        tuple(rule.model.check.params.get("terms") or ())
        for rule in packs.rules.values()
        if rule.model.check.kind == text_match.KIND
    }
    return sorted(t for t in found if t)


def plain(terms: tuple[str, ...], text: str) -> list[tuple[int, int, str]]:
    """The terms' matches as the rule reads them, without any shortcut."""
    words = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    regex = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end(), m.group(0)) for m in regex.finditer(text) if m.end() > m.start()]


def shortcut(terms: tuple[str, ...], text: str) -> list[tuple[int, int, str]]:
    params = text_match.Params(terms=list(terms), message="{match}")
    hits = text_match._forbidden(params, ("body",), text)
    return [(h.text[0], h.text[1], text[h.text[0] : h.text[1]]) for h in hits if h.text]


def test_the_shipped_packs_have_term_lists_the_shortcut_serves() -> None:
    lists = shipped_term_lists()
    assert lists, shipped_pack_dir()
    assert any(text_match._first_words(terms) is not None for terms in lists)


def pieces(terms: tuple[str, ...]) -> st.SearchStrategy[str]:
    term = st.sampled_from(terms)
    return st.one_of(
        term,
        term.map(str.upper),
        term.map(str.title),
        term.map(lambda t: t[: max(1, len(t) // 2)]),  # a prefix: "mariju"
        term.map(lambda t: t[1:]),  # a suffix: "orn"
        st.sampled_from([" ", "-", "_", ".", "'", "x", "9", "\n", "é", "K", "ſ", "İ", "$"]),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz -_.'", max_size=6),
    )


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_forbidden_terms_found_as_without_the_shortcut(data: st.DataObject) -> None:
    terms = data.draw(st.sampled_from(shipped_term_lists()))
    text = "".join(data.draw(st.lists(pieces(terms), min_size=1, max_size=8)))
    assert shortcut(terms, text) == plain(terms, text)


@settings(max_examples=300, deadline=None)
@given(
    terms=st.lists(
        st.text(alphabet="abcXYZ-_ .$8é", min_size=1, max_size=5), min_size=1, max_size=5
    ).map(tuple),
    text=st.text(alphabet="abcxyzABCXYZ-_ .$8éK\u017f\u212a\n", max_size=30),
)
def test_made_up_terms_found_as_without_the_shortcut(terms: tuple[str, ...], text: str) -> None:
    assert shortcut(terms, text) == plain(terms, text)


def test_a_term_found_with_the_shortcut_taken() -> None:
    terms = ("delta-8", "CBD", "strip club")
    assert text_match._first_words(terms) == frozenset({"delta", "cbd", "strip"})
    assert shortcut(terms, "New DELTA-8 gummies and cbd oil at the Strip Club.") == [
        (4, 11, "DELTA-8"),
        (24, 27, "cbd"),
        (39, 49, "Strip Club"),
    ]
    assert shortcut(terms, "Our stripclub-free zone sells CBDs") == []


def test_no_shortcut_where_it_could_miss() -> None:
    # a term that does not start with a word character, or is not ASCII
    assert text_match._first_words(("$$$", "cash")) is None
    assert text_match._first_words(("café",)) is None
    # a Unicode text is always scanned: without case the long s matches s, and its own
    # lowercase is itself ("\u017fex" is not the word "sex")
    assert shortcut(("sex",), "\u017fex shop") == [(0, 3, "\u017fex")]
    assert shortcut(("kush",), "\u212aush for sale") == [(0, 4, "\u212aush")]
