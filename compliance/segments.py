"""SMS encoding and segment counting: GSM-7 or UCS-2, and how many parts a text is billed as.

Sources: 3GPP TS 23.038 §6.2.1 (GSM 7-bit default alphabet and its extension table),
3GPP TS 23.040 §9.2.3.24 (user data header, concatenation IEIs 0x00 and 0x08) and the Unicode
mapping file https://www.unicode.org/Public/MAPPINGS/ETSI/GSM0338.TXT.
Research notes: shared/reference/markets.md §1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import filterfalse, pairwise

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# --- Alphabet (TS 23.038 §6.2.1, code points from GSM0338.TXT) ------------------------------------

# The 128 positions of the default alphabet in code order, 0x00..0x7F. Position 0x1B is ESC (the
# file maps it to NO-BREAK SPACE only as a display fallback for a lone ESC). It is left out: sending
# NBSP as a bare ESC would make the handset read the next septet from the extension table, so NBSP
# (and U+001B itself) count as non-GSM here.
# 0x09 is small c-cedilla "ç" (U+00E7): the Unicode file corrects the ETSI glyph, which shows a
# capital. Capital "Ç" is accepted as well (below) because most gateways map it to 0x09 rather than
# switching the whole message to UCS-2; the handset then shows "ç".
_BASIC_BY_CODE = (
    "@£$¥èéùìòç\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10-0x1F (0x1B = ESC, dropped below)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)
_ESC = "\x1b"
_GATEWAY_ALIASES = "Ç"  # see the note on 0x09 above

_BASIC = frozenset(_BASIC_BY_CODE.replace(_ESC, "") + _GATEWAY_ALIASES)

# Extension table (TS 23.038 §6.2.1.1; 0x1B0A.. rows of GSM0338.TXT): each is sent as ESC + code,
# so it costs 2 septets. Form feed is ESC 0x0A; the others are printable. Order is irrelevant.
# National language shift tables (TS 23.038 Annex A) are not modelled: they need an extra UDH
# element that gateways rarely send, so a Turkish "ş" is counted as forcing UCS-2.
_EXTENSION = ("\f", "^", "{", "}", "\\", "[", "~", "]", "|", "€")

_GSM7_CHARS = _BASIC.union(_EXTENSION)

# Matches any character outside both tables. One match switches the whole message to UCS-2: the
# data coding scheme (TS 23.038 §4) is set once per message, not per character.
_NON_GSM = re.compile("[^" + "".join(re.escape(ch) for ch in sorted(_GSM7_CHARS)) + "]")

# --- Capacities (TS 23.040 §9.2.3.24) -------------------------------------------------------------

_USER_DATA_OCTETS = 140  # TP-User-Data maximum
_SINGLE_GSM7 = _USER_DATA_OCTETS * 8 // 7  # 160 septets
_SINGLE_UCS2 = _USER_DATA_OCTETS // 2  # 70 code units

# Concatenation header length in octets: UDHL + IEI + IEDL + reference + total + sequence, with a
# one-octet reference (IEI 0x00) or a two-octet one (IEI 0x08).
_UDH_OCTETS = {"8bit": 6, "16bit": 7}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _concat_gsm7(udh_octets: int) -> int:
    # The header is padded with fill bits up to a septet boundary, so GSM-7 loses whole septets:
    # 6 octets = 48 bits -> 7 septets -> 153; 7 octets = 56 bits -> 8 septets -> 152.
    return _SINGLE_GSM7 - _ceil_div(udh_octets * 8, 7)


def _concat_ucs2(udh_octets: int) -> int:
    # UCS-2 units are whole octet pairs: (140 - 6) // 2 = 67, (140 - 7) // 2 = 66.
    return (_USER_DATA_OCTETS - udh_octets) // 2


_CONCAT = {name: (_concat_gsm7(n), _concat_ucs2(n)) for name, n in _UDH_OCTETS.items()}


# --- Result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # GSM7 or UCS2
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    characters: int  # Unicode code points (len(text))
    per_segment: int  # capacity used: 160/153/152 or 70/67/66
    non_gsm: tuple[str, ...]  # distinct characters forcing UCS-2, first appearance order
    extension: tuple[str, ...]  # distinct extension characters (GSM-7 only; 2 septets each)

    def to_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "units": self.units,
            "characters": self.characters,
            "per_segment": self.per_segment,
            "non_gsm": list(self.non_gsm),
            "extension": list(self.extension),
        }


# --- Public API -----------------------------------------------------------------------------------


def is_gsm7(ch: str) -> bool:
    """True if the single character ``ch`` is in the GSM-7 basic or extension table."""
    return ch in _GSM7_CHARS


def non_gsm_positions(text: str) -> list[tuple[int, str]]:
    """(index, character) of every character that forces the message to UCS-2."""
    return [(m.start(), m.group()) for m in _NON_GSM.finditer(text)]


def analyze(text: str, *, udh: str = "8bit") -> SegmentInfo:
    """Encoding, length and segment count of ``text`` as an SMS gateway would bill it."""
    gsm7_concat, ucs2_concat = _concat_capacities(udh)
    if _NON_GSM.search(text):
        units, segments, cap = _ucs2_layout(text, ucs2_concat)
        return SegmentInfo(UCS2, segments, units, len(text), cap, _distinct_non_gsm(text), ())
    extension = _extension_in_order(text)
    units, segments, cap = _gsm7_layout(text, extension, gsm7_concat)
    return SegmentInfo(GSM7, segments, units, len(text), cap, (), extension)


def split(text: str, *, udh: str = "8bit") -> list[str]:
    """The segment texts, packed the way ``analyze`` counts them (never splitting a pair)."""
    gsm7_concat, ucs2_concat = _concat_capacities(udh)
    if _NON_GSM.search(text):
        return _split_ucs2(text, ucs2_concat)
    return _split_gsm7(text, _extension_in_order(text), gsm7_concat)


# --- Internals ------------------------------------------------------------------------------------


def _concat_capacities(udh: str) -> tuple[int, int]:
    try:
        return _CONCAT[udh]
    except KeyError:
        raise ValueError(f"udh must be '8bit' or '16bit', not {udh!r}") from None


def _distinct_non_gsm(text: str) -> tuple[str, ...]:
    # dict.fromkeys keeps first-appearance order; both passes run in C, which matters for CJK text
    # where nearly every character is distinct.
    return tuple(filterfalse(_GSM7_CHARS.__contains__, dict.fromkeys(text)))


def _extension_in_order(text: str) -> tuple[str, ...]:
    # Ten substring scans in C are cheaper than walking the text in Python.
    present = [ch for ch in _EXTENSION if ch in text]
    if len(present) > 1:
        present.sort(key=text.index)
    return tuple(present)


Lead = Callable[[int], bool]  # is unit i the first half of a pair that must stay together?


def _pack(total: int, concat: int, is_lead: Lead | None) -> list[int]:
    """End offsets, in units, of the parts of a concatenated message.

    Greedy: fill each part to ``concat`` units, but when its last unit would be the first half of a
    pair (the ESC of an extension character, a high surrogate) the whole pair starts the next part.
    Each part is decoded on its own: a split escape pair would arrive as a lone ESC and then the
    basic-table character with the same code ("]" is ESC 0x3E, so it would show as ">"), and a
    split surrogate pair as two replacement glyphs (markets.md §1).
    """
    ends: list[int] = []
    end = 0
    while end < total:
        end += concat
        if end >= total:
            end = total
        elif is_lead is not None and is_lead(end - 1):
            end -= 1
        ends.append(end)
    return ends


def _segment_ends(total: int, single: int, concat: int, is_lead: Lead | None) -> list[int]:
    # An empty text is still one (empty) segment: that is what gateways bill.
    return [total] if total <= single else _pack(total, concat, is_lead)


def _segment_count(total: int, single: int, concat: int, is_lead: Lead | None) -> tuple[int, int]:
    """(segments, capacity per segment); the same packing as ``_segment_ends``, without the list."""
    if total <= single:
        return 1, single
    if is_lead is None:  # no pairs to protect: plain arithmetic
        return _ceil_div(total, concat), concat
    return len(_pack(total, concat, is_lead)), concat


# GSM-7: the text is rewritten with an ESC before each extension character, so that one str
# character is one septet and ESC marks the first half of a pair.


def _to_septets(text: str, extension: tuple[str, ...]) -> str:
    for ch in extension:
        text = text.replace(ch, _ESC + ch)
    return text


def _escape_lead(septets: str, extension: tuple[str, ...]) -> Lead | None:
    return (lambda i: septets[i] == _ESC) if extension else None


def _gsm7_layout(text: str, extension: tuple[str, ...], concat: int) -> tuple[int, int, int]:
    septets = _to_septets(text, extension)
    lead = _escape_lead(septets, extension)
    return (len(septets), *_segment_count(len(septets), _SINGLE_GSM7, concat, lead))


def _split_gsm7(text: str, extension: tuple[str, ...], concat: int) -> list[str]:
    septets = _to_septets(text, extension)
    lead = _escape_lead(septets, extension)
    ends = _segment_ends(len(septets), _SINGLE_GSM7, concat, lead)
    # ESC only ever precedes its own extension character, so dropping it restores the text.
    return [septets[a:b].replace(_ESC, "") for a, b in pairwise([0, *ends])]


# UCS-2: the text as UTF-16-LE bytes, two bytes a unit; a non-BMP character is a surrogate pair.


def _utf16(text: str) -> bytes:
    # surrogatepass: a lone surrogate in a Python str (possible after surrogateescape decoding)
    # counts as one unit instead of crashing the linter.
    return text.encode("utf-16-le", "surrogatepass")


def _surrogate_lead(text: str, data: bytes) -> Lead | None:
    if len(data) // 2 == len(text):  # every code point is one unit: nothing to keep together
        return None
    # Little-endian: unit i's high byte is data[2i + 1]; 0xD8..0xDB is a high (leading) surrogate.
    return lambda i: 0xD8 <= data[2 * i + 1] <= 0xDB


def _ucs2_layout(text: str, concat: int) -> tuple[int, int, int]:
    data = _utf16(text)
    units = len(data) // 2
    return (units, *_segment_count(units, _SINGLE_UCS2, concat, _surrogate_lead(text, data)))


def _split_ucs2(text: str, concat: int) -> list[str]:
    data = _utf16(text)
    lead = _surrogate_lead(text, data)
    unit_ends = _segment_ends(len(data) // 2, _SINGLE_UCS2, concat, lead)
    ends = unit_ends if lead is None else _char_offsets(text, unit_ends)
    return [text[a:b] for a, b in pairwise([0, *ends])]


def _char_offsets(text: str, unit_ends: list[int]) -> list[int]:
    """Map UTF-16 unit offsets to code point offsets (cuts never fall inside a surrogate pair)."""
    wanted = set(unit_ends)
    found: dict[int, int] = {}
    units = 0
    for index, ch in enumerate(text):
        if units in wanted:
            found[units] = index
        units += 2 if ord(ch) > 0xFFFF else 1
    found[units] = len(text)
    return [found[u] for u in unit_ends]
