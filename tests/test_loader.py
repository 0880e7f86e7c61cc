from __future__ import annotations

from pathlib import Path

import pytest

from compliance.findings import Span
from compliance.loader import MAX_FILE_BYTES, SourceFile, parse_bytes, parse_text, read_file


def parse(text: str) -> SourceFile:
    return parse_text(SourceFile(Path("t.yaml"), "t.yaml"), text)


def test_values_and_positions_of_every_node():
    source = parse("kind: template\nid: x\nmarkets: [US, GB]\nvariables:\n  a: {max_length: 3}\n")
    doc = source.documents[0]
    assert doc.data == {
        "kind": "template",
        "id": "x",
        "markets": ["US", "GB"],
        "variables": {"a": {"max_length": 3}},
    }
    assert doc.span(("markets", 1)) == Span(3, 15, 3, 17)
    assert doc.span(("variables", "a"), key=True) == Span(5, 3, 5, 4)
    assert doc.span(("variables", "a", "max_length")).line == 5


def test_several_documents_in_one_file_keep_their_own_lines():
    source = parse("kind: a\nid: one\n---\nkind: b\nid: two\n")
    assert [d.data["id"] for d in source.documents] == ["one", "two"]
    assert source.documents[1].span(("id",)) == Span(5, 5, 5, 8)


def test_yaml_1_2_scalars_dates_and_merge_keys():
    source = parse(
        "kind: k\nyes_is_text: yes\nwhen: 2026-12-31\nbase: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n"
    )
    data = source.documents[0].data
    assert data["yes_is_text"] == "yes"
    assert str(data["when"]) == "2026-12-31"
    assert data["m"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    "text, line, col",
    [
        ('kind: t\nbody: "ab\\u200bcd"\n', 2, 10),  # double-quoted escape
        ("kind: t\nbody: 'it''s \u200bx'\n", 2, 14),  # single-quoted with '' escape
        ("kind: t\nbody: plain \u200bx\n", 2, 13),  # plain
        ("kind: t\nbody: |\n  first\n  se\u200bcond\n", 4, 5),  # literal block
        ("kind: t\nbody: >\n  first\n  se\u200bcond\n", 4, 5),  # folded block
        ("kind: t\nbody: plain first\n  se\u200bcond\n", 3, 5),  # multi-line plain
    ],
)
def test_text_span_points_at_the_character_inside_any_scalar_style(text, line, col):
    doc = parse(text).documents[0]
    index = doc.data["body"].index("\u200b")
    span = doc.text_span(("body",), index, index + 1)
    assert (span.line, span.column) == (line, col)


def test_syntax_error_is_a_problem_with_its_place_and_earlier_documents_survive():
    source = parse("kind: a\nid: ok\n---\nkind: b\nmarkets: [US\nid: x\n")
    assert [d.data["id"] for d in source.documents] == ["ok"]
    (problem,) = source.problems
    assert problem.code == "syntax"
    assert problem.span.line == 6
    assert problem.message.startswith("invalid YAML")


def test_duplicate_keys_are_reported_at_the_second_key():
    source = parse("kind: a\nid: one\nid: two\n")
    (problem,) = source.problems
    assert problem.code == "duplicate-key"
    assert problem.span == Span(3, 1, 3, 3)
    assert "first defined at line 2" in problem.message


def test_alias_bomb_is_stopped():
    lines = ["kind: x", 'a: &a ["l","l","l","l","l","l","l","l","l"]']
    for name, prev in zip("bcdefgh", "abcdefg", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    source = parse("\n".join(lines) + "\n")
    assert [p.code for p in source.problems] == ["alias-bomb"]
    assert source.documents == []


def test_recursive_alias_is_a_problem_not_a_crash():
    source = parse("kind: &a [*a]\n")
    assert [p.code for p in source.problems] == ["alias-bomb"]


def test_non_utf8_file_names_the_line_of_the_bad_byte():
    source = parse_bytes(SourceFile(Path("t.yaml"), "t.yaml"), b"kind: t\nbody: caf\xe9\n")
    (problem,) = source.problems
    assert problem.code == "encoding"
    assert problem.span.line == 2
    assert "0xe9" in problem.message


def test_utf8_bom_is_accepted():
    source = parse_bytes(SourceFile(Path("t.yaml"), "t.yaml"), b"\xef\xbb\xbfkind: t\nid: x\n")
    assert source.documents[0].data == {"kind": "t", "id": "x"}


def test_file_over_one_mebibyte_is_not_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"kind: t\n" + b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    source = read_file(path, "big.yaml")
    assert [p.code for p in source.problems] == ["too-large"]
    assert source.documents == []


def test_control_characters_are_placed():
    source = parse("kind: t\nbody: a\x07b\n")
    (problem,) = source.problems
    assert problem.span.line == 2
    assert "U+0007" in problem.message


def test_yaml_without_the_word_kind_is_not_parsed():
    source = parse("name: CI\non: [push]\njobs: {")  # broken, but not ours
    assert source.problems == [] and source.documents == []


def test_deep_nesting_is_a_problem():
    source = parse("kind: " + "[" * 200 + "]" * 200 + "\n")
    assert [p.code for p in source.problems] == ["too-deep"]


def test_lines_are_counted_as_editors_count_them_not_as_yaml_1_1_breaks():
    # libyaml counts NEL, LS and PS as line breaks; an editor shows them inside one line
    source = parse('kind: t\nbody: "a\x85b\u2028c"\nid: x\n')
    doc = source.documents[0]
    assert doc.span(("id",)) == Span(3, 5, 3, 6)
