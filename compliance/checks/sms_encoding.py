"""SMS encoding and length: GSM-7 or UCS-2, and a warning above a number of segments.

Each segment is billed and delivered separately; long or UCS-2 messages cost more and are more
often filtered or split out of order. The count follows 3GPP TS 23.038/23.040
(shared/reference/markets.md section 1) through compliance.segments.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from compliance.checks.base import CheckParams, Context, Hit
from compliance.placeholders import render
from compliance.segments import UCS2, analyze, non_gsm_positions

DOCUMENTS = ("template",)  # the documents it can read: a rule aimed at others skips them

KIND = "sms_encoding"
SCOPE = "document"


class Params(CheckParams):
    max_segments: int = Field(default=3, ge=1)
    udh: Literal["8bit", "16bit"] = "8bit"


def check(doc: Any, params: Params, ctx: Context) -> Iterator[Hit]:
    template = doc.model
    text = render(template.body, template.variables)
    info = analyze(text, udh=params.udh)
    if info.segments <= params.max_segments:
        return
    unit = "UTF-16 units" if info.encoding == UCS2 else "septets"
    message = (
        f"body needs {info.segments} SMS segments ({info.encoding}, {info.units} {unit}, "
        f"variables at their longest); the limit is {params.max_segments}"
    )
    hit_text = None
    if info.encoding == UCS2:
        names = ", ".join(f"{ch!r} ({_name(ch)})" for ch in info.non_gsm[:5])
        more = f" and {len(info.non_gsm) - 5} more" if len(info.non_gsm) > 5 else ""
        gsm = analyze(
            "".join("?" if not_gsm else ch for ch, not_gsm in _marked(text)), udh=params.udh
        )
        message += (
            f". UCS-2 is forced by {names}{more}; in GSM-7 it would need "
            f"{gsm.segments} segment{'s' if gsm.segments != 1 else ''}"
        )
        first = non_gsm_positions(template.body)
        if first:
            hit_text = (first[0][0], first[0][0] + 1)
    else:
        message += "; shorten the text"
    yield Hit(
        message,
        path=("body",),
        text=hit_text,
        content=f"{info.encoding}:{info.segments}:{params.max_segments}",
    )


def _marked(text: str) -> Iterator[tuple[str, bool]]:
    bad = {i for i, _ in non_gsm_positions(text)}
    for i, ch in enumerate(text):
        yield ch, i in bad


def _name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'character')}"
