"""The decision entry's text is written out by hand for speed; it must be exactly what
canonical() makes of the same data, or entries would hash differently from their data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.gate.audit import canonical, decision_text

text = st.text(max_size=30)  # any unicode: quotes, backslashes, control and astral characters
maybe = st.none() | text
codes = st.lists(text, max_size=4)


@settings(max_examples=400, deadline=None)
@given(
    catalog=text,
    channel=maybe,
    market=maybe,
    not_before=maybe,
    outcome=text,
    reasons=codes,
    requested=maybe,
    scheduled=maybe,
    template=text,
    to=text,
    warnings=codes,
)
def test_decision_text_is_canonical_json(**data):
    assert decision_text(**data) == canonical(data)
