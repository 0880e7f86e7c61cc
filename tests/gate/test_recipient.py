"""The gate reads numbers faster than phonenumbers' general parser; these tests hold it to
phonenumbers' answers: the same E.164 form, country, validity and time zones."""

from __future__ import annotations

import random

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType as T
from phonenumbers import timezone

from compliance.gate import recipient as r

TYPES = (
    T.MOBILE,
    T.FIXED_LINE,
    T.TOLL_FREE,
    T.VOIP,
    T.PREMIUM_RATE,
    T.PAGER,
    T.UAN,
    T.PERSONAL_NUMBER,
    T.SHARED_COST,
    T.VOICEMAIL,
)


def reference(value: str) -> tuple[str, str, tuple[str, ...]] | None:
    """What phonenumbers' own API says: (E.164, country, zones), or None when not valid."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region is None or not phonenumbers.is_valid_number(number):
        return None
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region, zones


def ours(value: str) -> tuple[str, str | None, tuple[str, ...]] | None:
    try:
        found = r.parse(value)
    except r.InvalidRecipient:
        return None
    # a US number is also held to its state's main zone (recipient.STATE_MAIN_ZONE) and to
    # every zone its area code's exchanges keep (recipient._area_zones), which phonenumbers
    # does not give for the one number: those are the only zones it may add
    zones = found.timezones
    area = r._area(found.number)
    if found.market == "US" and area is not None:
        reference_zones = reference(value)
        explained = {*r._area_zones(area), r.STATE_MAIN_ZONE.get(found.region or "")}
        if reference_zones is not None:
            zones = tuple(z for z in zones if z in reference_zones[2] or z not in explained)
    return found.subject, found.market, zones


def corpus(seed: int = 2026) -> list[str]:
    """Every region's example numbers of every type, in E.164 and international format, each
    with digits changed, one dropped and one added; then random digits after random codes."""
    rng = random.Random(seed)
    values = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            values += [e164, e164[:-1], e164 + "7"]
            values.append(
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            )
            for _ in range(4):
                digits = list(e164[1:])
                digits[rng.randrange(len(digits))] = str(rng.randrange(10))
                values.append("+" + "".join(digits))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            values.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for _ in range(5000):
        size = rng.randrange(4, 13)
        values.append(f"+{rng.randrange(1, 999)}" + "".join(rng.choices("0123456789", k=size)))
    return values


def test_agrees_with_phonenumbers_on_every_region():
    r._phone.cache_clear()
    values = corpus()
    wrong = [(v, ours(v), reference(v)) for v in values if ours(v) != reference(v)]
    assert wrong == [], wrong[:5]
    assert sum(reference(v) is not None for v in values) > 1500  # the corpus has valid numbers


def test_one_numbers_country_does_not_decide_its_area_codes():
    # phonenumbers names Canada for an invalid short number and for Canada's seven-digit
    # 310-xxxx numbers; a Los Angeles number in area code 310 stays US in either order
    for first in ("+1310524139", "+13101234"):
        r._phone.cache_clear()
        r._NANP_AREAS.clear()
        ours(first)
        assert ours("+13106421234") == ("+13106421234", "US", ("America/Los_Angeles",))
    assert ours("+13101234") == reference("+13101234")


def test_a_mobile_without_a_place_has_every_zone_of_its_country():
    # Australian mobiles are not tied to a state: quiet hours must hold in all of them
    found = r.parse("+61412345678")
    assert "Australia/Perth" in found.timezones and "Australia/Sydney" in found.timezones


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\+[0-9]{1,3}[0-9 ]{0,16}", fullmatch=True))
def test_fuzzed_numbers_agree_with_phonenumbers(value):
    assert ours(value) == reference(value)


def test_a_numbers_state_is_its_area_codes_whatever_was_seen_first():
    # 201-631 alone is placed in "New York, NY" by phonenumbers; 360 in "Washington State"
    for order in (("+12016310123", "+12015550123"), ("+12015550123", "+12016310123")):
        r._phone.cache_clear()
        assert [r.parse(n).region for n in order] == ["US-NJ", "US-NJ"]
    for number in ("+13605550123", "+15645550123", "+12065550123", "+15095550123"):
        assert r.parse(number).region == "US-WA", number
    assert r.parse("+12025550123").region == "US-DC"
    assert r.parse("+17875550123").region is None  # Puerto Rico is a market of its own
    assert "US-PR" not in r.known_regions() and "US-WA" in r.known_regions()


def test_a_number_is_held_to_every_zone_its_area_code_spans():
    # 850 covers Eastern and Central Florida; West Texas's 432 reaches Mountain time
    assert {"America/New_York", "America/Chicago"} <= set(r.parse("+18505550123").timezones)
    assert "America/Denver" in r.parse("+14322830123").timezones


@given(st.text(max_size=20))
@settings(max_examples=300)
def test_a_bad_number_is_explained_in_our_words(value):
    # phonenumbers' own messages ("The string supplied did not seem to be a phone number",
    # "Missing or invalid default region") name its internals, not what the user should fix
    for attempt in (
        lambda: r.parse(value, "sms"),
        lambda: r.readings(value, "sms", ["US", "GB"]),
    ):
        try:
            attempt()
        except r.InvalidRecipient as exc:
            message = str(exc)
            assert "did not seem" not in message
            assert "default region" not in message.lower()
            assert "(1)" not in message.replace(repr(value), "")
            assert "phonenumbers" not in message.replace(repr(value), "")


def test_a_bad_number_says_what_to_fix():
    for value, words in (
        ("foo bar", "holds no phone number"),
        ("12125550123", "country code is missing"),
        ("+1", "it"),
    ):
        try:
            r.parse(value, "sms")
        except r.InvalidRecipient as exc:
            assert words in str(exc), str(exc)
        else:  # pragma: no cover - each value above is refused
            raise AssertionError(f"{value!r} was read as a phone number")
