from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.segments import (
    GSM7,
    UCS2,
    SegmentInfo,
    analyze,
    is_gsm7,
    non_gsm_positions,
    split,
)

# Written out here rather than imported, so the tests check the module against the table
# (3GPP TS 23.038 §6.2.1; unicode.org GSM0338.TXT), not against itself.
GSM_BASIC_NON_ASCII = "@£$¥èéùìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà"
GSM_EXTENSION = "^{}\\[~]|€\f"
EMOJI = "\U0001f44d"  # 👍 thumbs up, outside the BMP
SKIN_TONE = "\U0001f3fd"  # 🏽 medium skin tone modifier


def cost(piece: str, encoding: str) -> int:
    """Units a piece occupies: septets (extension = 2) or UTF-16 code units."""
    if encoding == GSM7:
        return sum(2 if ch in GSM_EXTENSION else 1 for ch in piece)
    return len(piece.encode("utf-16-le", "surrogatepass")) // 2


def assert_well_split(text: str, udh: str = "8bit") -> list[str]:
    info = analyze(text, udh=udh)
    pieces = split(text, udh=udh)
    assert "".join(pieces) == text
    assert len(pieces) == info.segments
    assert all(cost(p, info.encoding) <= info.per_segment for p in pieces)
    assert sum(cost(p, info.encoding) for p in pieces) == info.units
    return pieces


# --- GSM-7 lengths -------------------------------------------------------------------------------


def test_160_gsm_chars_fit_one_segment() -> None:
    info = analyze("a" * 160)
    assert (info.encoding, info.segments, info.units, info.per_segment) == (GSM7, 1, 160, 160)


def test_161_gsm_chars_need_two_concatenated_segments() -> None:
    info = analyze("a" * 161)
    assert (info.segments, info.units, info.per_segment) == (2, 161, 153)
    assert [len(p) for p in split("a" * 161)] == [153, 8]


@pytest.mark.parametrize(("length", "segments"), [(306, 2), (307, 3), (459, 3), (460, 4)])
def test_concatenated_gsm_boundaries_at_multiples_of_153(length: int, segments: int) -> None:
    assert analyze("a" * length).segments == segments


def test_empty_message_is_billed_as_one_empty_segment() -> None:
    info = analyze("")
    assert (info.encoding, info.segments, info.units, info.characters) == (GSM7, 1, 0, 0)
    assert split("") == [""]


def test_crlf_counts_two_septets() -> None:
    assert analyze("Hi\r\nthere").units == 9
    assert analyze("\r\n").units == 2
    assert analyze("a" * 158 + "\r\n").segments == 1
    assert analyze("a" * 159 + "\r\n").segments == 2


# --- Extension table -----------------------------------------------------------------------------


@pytest.mark.parametrize("ch", list(GSM_EXTENSION))
def test_extension_char_costs_two_septets(ch: str) -> None:
    info = analyze(ch)
    assert (info.encoding, info.units, info.characters) == (GSM7, 2, 1)
    assert info.extension == (ch,)
    assert is_gsm7(ch)


def test_80_euro_signs_fill_exactly_one_segment() -> None:
    info = analyze("€" * 80)
    assert (info.segments, info.units, info.characters) == (1, 160, 80)


def test_81_euro_signs_need_two_segments_without_splitting_a_pair() -> None:
    info = analyze("€" * 81)
    assert (info.segments, info.units, info.per_segment) == (2, 162, 153)
    # 153 is odd: the 77th euro would put its ESC in septet 153, so it moves on.
    assert split("€" * 81) == ["€" * 76, "€" * 5]


def test_extension_char_whose_escape_lands_on_septet_153_moves_to_next_segment() -> None:
    # twilio/message-segment-calculator issue #39: 152 GSM chars then "]" (ESC would be septet 153).
    pieces = assert_well_split("a" * 152 + "]" + "a" * 8)
    assert pieces == ["a" * 152, "]" + "a" * 8]


def test_moved_escape_pair_can_add_a_segment() -> None:
    # 306 septets would be 2 x 153, but the pair cannot straddle, so three parts are billed.
    text = "a" * 152 + "]" + "a" * 152
    assert analyze(text).units == 306
    assert analyze(text).segments == 3
    assert assert_well_split(text) == ["a" * 152, "]" + "a" * 151, "a"]


def test_extension_chars_reported_once_in_order_of_first_appearance() -> None:
    assert analyze("a]b€c]{").extension == ("]", "€", "{")
    assert analyze("plain text").extension == ()


# --- Alphabet membership -------------------------------------------------------------------------


@pytest.mark.parametrize("ch", list(GSM_BASIC_NON_ASCII + "çÇ"))
def test_basic_table_chars_are_gsm7_and_cost_one_septet(ch: str) -> None:
    assert is_gsm7(ch)
    info = analyze(ch * 160)
    assert (info.encoding, info.segments, info.units) == (GSM7, 1, 160)


def test_all_printable_ascii_except_backtick_is_gsm7() -> None:
    printable = [chr(c) for c in range(0x20, 0x7F) if chr(c) != "`"]
    assert all(is_gsm7(ch) for ch in printable)
    assert analyze("".join(printable)).encoding == GSM7


@pytest.mark.parametrize("ch", ["`", "á", "í", "ó", "ú", "—", "“", "\u00a0", "\x1b", "\t", "ş"])
def test_chars_outside_both_tables_force_ucs2(ch: str) -> None:
    assert not is_gsm7(ch)
    info = analyze("Hello " + ch)
    assert info.encoding == UCS2
    assert info.non_gsm == (ch,)


def test_gsm7_table_has_exactly_138_characters() -> None:
    # 128 positions minus ESC, plus capital Ç accepted for 0x09, plus 10 extension characters.
    accepted = [chr(c) for c in range(0x3000) if is_gsm7(chr(c))]
    assert len(accepted) == 127 + 1 + 10
    assert not is_gsm7("")
    assert not is_gsm7("ab")


# --- UCS-2 ---------------------------------------------------------------------------------------


def test_70_cjk_chars_fit_one_segment_and_71_need_two() -> None:
    one = analyze("中" * 70)
    assert (one.encoding, one.segments, one.units, one.per_segment) == (UCS2, 1, 70, 70)
    two = analyze("中" * 71)
    assert (two.segments, two.units, two.per_segment) == (2, 71, 67)


@pytest.mark.parametrize(("length", "segments"), [(134, 2), (135, 3)])
def test_concatenated_ucs2_boundaries_at_multiples_of_67(length: int, segments: int) -> None:
    assert analyze("中" * length).segments == segments


def test_one_curly_quote_switches_whole_message_to_ucs2() -> None:
    text = "a" * 75 + "’" + "a" * 75
    info = analyze(text)
    assert (info.encoding, info.units, info.segments, info.per_segment) == (UCS2, 151, 3, 67)
    assert info.non_gsm == ("’",)
    assert info.extension == ()
    assert non_gsm_positions(text) == [(75, "’")]
    assert analyze(text.replace("’", "'")).segments == 1  # the straight quote stays GSM-7


def test_combining_accent_forces_ucs2_but_precomposed_does_not() -> None:
    decomposed = analyze("Cafe\u0301")
    assert (decomposed.encoding, decomposed.characters) == (UCS2, 5)
    assert decomposed.non_gsm == ("\u0301",)
    assert analyze("Café").encoding == GSM7


def test_non_gsm_listed_once_in_order_of_first_appearance() -> None:
    text = "“Hi” — “you”"
    assert analyze(text).non_gsm == ("“", "”", "—")
    assert non_gsm_positions(text) == [(0, "“"), (3, "”"), (5, "—"), (7, "“"), (11, "”")]
    assert non_gsm_positions("all GSM here €") == []


def test_emoji_is_a_surrogate_pair_of_two_units() -> None:
    info = analyze(EMOJI)
    assert (info.encoding, info.units, info.characters) == (UCS2, 2, 1)
    toned = analyze(EMOJI + SKIN_TONE)
    assert (toned.units, toned.characters) == (4, 2)
    assert analyze(EMOJI * 35).segments == 1
    assert analyze(EMOJI * 36).segments == 2


def test_surrogate_pair_straddling_unit_67_moves_whole() -> None:
    text = "中" * 66 + EMOJI + "中" * 10
    pieces = assert_well_split(text)
    assert pieces == ["中" * 66, EMOJI + "中" * 10]


def test_moved_surrogate_pair_can_add_a_segment() -> None:
    text = "中" * 66 + EMOJI + "中" * 66  # 134 units: 2 x 67 if pairs could split
    assert analyze(text).units == 134
    assert analyze(text).segments == 3


# --- 16-bit reference UDH ------------------------------------------------------------------------


def test_16bit_reference_udh_leaves_152_septets_or_66_units() -> None:
    assert analyze("a" * 160, udh="16bit").per_segment == 160  # single part has no header
    assert analyze("a" * 161, udh="16bit").per_segment == 152
    assert analyze("a" * 304, udh="16bit").segments == 2
    assert analyze("a" * 305, udh="16bit").segments == 3
    assert analyze("中" * 71, udh="16bit").per_segment == 66
    assert analyze("中" * 132, udh="16bit").segments == 2
    assert analyze("中" * 133, udh="16bit").segments == 3


def test_16bit_udh_keeps_escape_pairs_whole_at_its_boundary() -> None:
    pieces = assert_well_split("a" * 151 + "€" + "a" * 10, udh="16bit")
    assert pieces == ["a" * 151, "€" + "a" * 10]


@pytest.mark.parametrize("udh", ["8", "16", "8-bit", "", "16BIT"])
def test_unknown_udh_is_rejected(udh: str) -> None:
    with pytest.raises(ValueError, match="udh"):
        analyze("hello", udh=udh)
    with pytest.raises(ValueError, match="udh"):
        split("hello", udh=udh)


# --- Result object -------------------------------------------------------------------------------


def test_to_dict_is_json_ready() -> None:
    info = analyze("Price: 5€ ’")
    data = info.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "encoding": "UCS-2",
        "segments": 1,
        "units": 11,
        "characters": 11,
        "per_segment": 70,
        "non_gsm": ["’"],
        "extension": [],
    }


def test_segment_info_is_frozen() -> None:
    info = analyze("hi")
    assert isinstance(info, SegmentInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.segments = 5  # type: ignore[misc]


# --- split() -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Your code is 123456. Reply STOP to opt out." * 9,
        "{[€]}" * 70,
        "Olá! Sua fatura está disponível. " * 8,
        (EMOJI + SKIN_TONE + " ok ") * 30,
        "line one\r\nline two\f" * 20,
    ],
)
def test_split_pieces_rejoin_and_fit_their_capacity(text: str) -> None:
    pieces = assert_well_split(text)
    assert len(pieces) > 1
    assert all(pieces)


# --- Property -------------------------------------------------------------------------------------

# Bias towards the interesting characters (extension pairs, surrogate pairs) so that boundaries
# land on them often, while still drawing from all of Unicode.
_chars = st.one_of(
    st.sampled_from("a€]\r\n" + GSM_BASIC_NON_ASCII + GSM_EXTENSION),
    st.sampled_from([EMOJI, SKIN_TONE, "中", "’", "\u0301"]),
    st.characters(),
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(_chars, max_size=700), udh=st.sampled_from(["8bit", "16bit"]))
def test_split_agrees_with_analyze(text: str, udh: str) -> None:
    info = analyze(text, udh=udh)
    assert info.characters == len(text)
    assert info.encoding == (GSM7 if all(is_gsm7(ch) for ch in text) else UCS2)
    assert_well_split(text, udh=udh)
