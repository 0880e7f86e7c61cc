"""Who a send goes to: a phone number parsed and normalised with phonenumbers (or an email
address), its market, its time zones and, in the US, its state."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

from compliance.gate.model import printable

US_STATES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
    "Washington D.C.": "DC",
    "District of Columbia": "DC",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# The time zone most of each state (and DC) keeps, from the US time zone boundaries of
# 49 CFR Part 71 (https://www.ecfr.gov/current/title-49/subtitle-A/part-71); the zones of a
# state's other areas come from the number itself.
_EAST, _CENTRAL, _MOUNTAIN, _PACIFIC = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)
STATE_MAIN_ZONE = {
    **{
        f"US-{s}": _EAST
        for s in "CT DE DC FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV".split()
    },
    **{f"US-{s}": _CENTRAL for s in "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI".split()},
    **{f"US-{s}": _MOUNTAIN for s in "CO ID MT NM UT WY".split()},
    **{f"US-{s}": _PACIFIC for s in "CA NV OR WA".split()},
    "US-AK": "America/Anchorage",
    "US-AZ": "America/Phoenix",
    "US-HI": "Pacific/Honolulu",
}


PHONE_CHANNELS = frozenset({"sms", "mms", "whatsapp", "rcs"})


class InvalidRecipient(ValueError):
    """Not a valid phone number or email address."""


class Recipient:
    """A normalised recipient: `subject` is the ledger's key (an E.164 number or an email
    address in lower case); `market` the number's country (ISO 3166-1 alpha-2; None for email);
    `timezones` the IANA zones the number may be in; `region` its ISO 3166-2 subdivision
    where the numbering plan tells it (US-FL), else None."""

    __slots__ = ("subject", "market", "timezones", "region", "number")

    def __init__(
        self,
        subject: str,
        market: str | None,
        timezones: tuple[str, ...] = (),
        region: str | None = None,
        number: Any = None,
    ) -> None:
        self.subject = subject
        self.market = market
        self.timezones = timezones
        self.region = region
        self.number = number  # phonenumbers' PhoneNumber

    @property
    def is_phone(self) -> bool:
        return self.subject.startswith("+")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipient) and (self.subject, self.market) == (
            other.subject,
            other.market,
        )

    def __hash__(self) -> int:
        return hash((self.subject, self.market))

    def __repr__(self) -> str:
        return f"Recipient({self.subject!r}, {self.market!r})"


def _timezones(e164: str, number: Any, kind: int) -> tuple[str, ...]:
    """phonenumbers.timezone.time_zones_for_number, given the number type we know already: a
    number with a place (a fixed line; a mobile where mobiles have one) by its longest
    prefix in phonenumbers' table, any other by its country code."""
    import phonenumbers
    from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        digits, sizes = e164[1:], _prefix_sizes(number.country_code)
    else:
        digits, sizes = str(number.country_code), range(TIMEZONE_LONGEST_PREFIX, 0, -1)
    zones: Any = ()
    for size in sizes:
        zones = TIMEZONE_DATA.get(digits[:size])
        if zones is not None:
            break
    return tuple(z for z in zones or () if z != "Etc/Unknown")


@cache
def _area_zones(area: str) -> tuple[str, ...]:
    """Every zone phonenumbers gives any number in a North American area code, and the ones
    its table misses (AREA_EXTRA_ZONES)."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    prefix = "1" + area
    found = {z for k, v in TIMEZONE_DATA.items() if k.startswith(prefix) for z in v}
    found.update(AREA_EXTRA_ZONES.get(area, ()))
    return tuple(sorted(found - {"Etc/Unknown"}))


# Area codes whose phonenumbers zone data names one zone though the area code spans two:
# 432 (West Texas) includes Culberson and Hudspeth counties, on Mountain time
AREA_EXTRA_ZONES = {"432": ("America/Denver",)}


@cache
def _prefix_sizes(code: int) -> tuple[int, ...]:
    """The lengths of the prefixes phonenumbers' zone table has under a country code, longest
    first: only those are worth looking up."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    first = str(code)
    return tuple(
        sorted({len(k) for k in TIMEZONE_DATA if k.startswith(first)} | {len(first)}, reverse=True)
    )


def _us_state(number: Any) -> str | None:
    """The state of a US number's area code (US-WA), the same for every number in it."""
    area = _area(number)
    return None if area is None else _area_state(area)


@lru_cache(maxsize=1024)
def _area_state(area: str) -> str | None:
    """An area code's state, from phonenumbers' place names: the area code's own entry (
    "New Jersey" for 201; all but a few have one), else the state most of its exchanges name.
    Never one exchange's alone, so a number's state does not depend on which number of its
    area code was seen first (201-631 alone reads "New York, NY")."""
    from collections import Counter

    from phonenumbers.geodata import GEOCODE_DATA

    prefix = "1" + area
    state = _state_of(GEOCODE_DATA.get(prefix, {}).get("en", ""))
    if state is None:
        votes = Counter(
            found
            for key, names in GEOCODE_DATA.items()
            if key.startswith(prefix) and (found := _state_of(names.get("en", ""))) is not None
        )
        state = votes.most_common(1)[0][0] if votes else None
    return f"US-{state}" if state else None


def known_regions() -> frozenset[str]:
    """The subdivisions the gate can tell from a number (US states and DC): the only ones a
    pause or a state list can be for."""
    return frozenset(f"US-{code}" for code in US_STATES.values())


def _state_of(place: str) -> str | None:
    """'Miami, FL' -> FL; 'New Jersey' -> NJ; 'Washington State' -> WA; else None."""
    if ", " in place:
        code = place.rsplit(", ", 1)[-1]
        return code if code in _US_CODES else None
    return US_STATES.get(place) or US_STATES.get(place.removesuffix(" State"))


def parse(value: str, channel: str | None = None, region: str | None = None) -> Recipient:
    """A phone number (E.164 or with a leading +; in national form only with `region`, the
    country it is read in) or, for email, an address."""
    value = printable((value or "").strip())  # a lone surrogate cannot be stored: escape it
    if channel in PHONE_CHANNELS and "@" in value and not value.startswith("+"):
        # not a phone number: checked as an address it would have no market, and so none
        # of a market's consent rules
        raise InvalidRecipient(f"{value!r} is an email address; {channel} goes to a phone number")
    if channel == "email" or ("@" in value and not value.startswith("+")):
        if not _EMAIL.match(value):
            raise InvalidRecipient(f"{value!r} is not an email address")
        return Recipient(_address(value), None)
    if region is not None and not value.startswith(("+", "\uff0b")):
        return _national(value, region)
    return _phone(value)


# a domain label as DNS hosts write it (RFC 1123 2.1): letters, digits, hyphens inside
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def _address(value: str) -> str:
    """An address as the ledger keys it: in lower case (Bob.Smith@Example.com who unsubscribed
    is bob.smith@example.com too) and in Unicode's composed form (josé written with a
    combining accent is josé), its domain without a trailing dot and in its ASCII form by
    IDNA 2008 and UTS 46, as mail systems write it (straße.de is xn--strae-oqa.de, never
    strasse.de: an internationalised domain and its xn-- form are one domain)."""
    local, _, domain = unicodedata.normalize("NFC", value).rpartition("@")
    domain = domain.rstrip(".").lower()
    try:
        if domain.isascii():
            domain = domain.encode("idna").decode("ascii")  # label lengths, empty labels
        else:
            import idna

            domain = idna.encode(domain, uts46=True).decode("ascii")
        labels = domain.split(".")
        if not all(_LABEL.match(label) for label in labels):
            raise ValueError("a label is not letters, digits and inner hyphens")
        if any(label.startswith("xn--") for label in labels):
            import idna

            idna.decode(domain)  # an xn-- label must be the form of some Unicode label
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise InvalidRecipient(
            f"{value!r} is not an email address: its domain is not one"
        ) from None
    address = f"{local.lower()}@{domain}"
    if not _EMAIL.match(address):
        raise InvalidRecipient(f"{value!r} is not an email address")
    return address


def readings(value: str, channel: str, regions: list[str]) -> list[Recipient]:
    """The numbers a reply's sender may be, as a provider hands it over (international form
    without its +, as WhatsApp and many SMS providers do: 447400123456; or national form)
    to a sender serving `regions`: the reading in international form where its country is
    one of them, and the national reading in each; those that are valid, each once. An
    address, or a number with its +, has one reading."""
    value = printable((value or "").strip())
    if channel not in PHONE_CHANNELS or not regions or value.startswith(("+", "\uff0b")):
        return [parse(value, channel)]
    found: dict[str, Recipient] = {}
    digits = re.sub(r"[\s().-]", "", value)
    if digits.isdigit() and not digits.startswith("0"):
        try:
            international = _phone("+" + digits)
        except InvalidRecipient:
            pass
        else:
            if international.market in regions:
                found[international.subject] = international
    errors = []
    for region in regions:
        try:
            national = _national(value, region)
        except InvalidRecipient as exc:
            errors.append(exc)
            continue
        found.setdefault(national.subject, national)
    if not found:
        if digits.isdigit() and not digits.startswith("0"):
            return [parse("+" + digits, channel)]  # another country's number, with its code
        raise errors[0] if errors else InvalidRecipient(f"{value!r} is not a phone number")
    return list(found.values())


def possible(value: str) -> Recipient | None:
    """An inbound reply's sender that no reading accepts but that has the shape of a number in
    international form (+ or digits, a country code, a possible length): a number the
    numbering data does not know yet (a new range). A reply from it is recorded under that
    E.164 number, so that an opt-out holds once the data learns the range and sends to it are
    allowed. None for anything else."""
    import phonenumbers

    text = printable((value or "").strip())
    digits = re.sub(r"[\s().-]", "", text)
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return Recipient(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)


def _national(value: str, region: str) -> Recipient:
    """A number as a provider may hand it over (2125550123, 12125550123, 0044...), read in the
    country of the sender it reached."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(f"{value!r} is not a phone number: {_why(exc)}") from None
    return _phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _why(exc: Any) -> str:
    """What is wrong with a number, in our words (phonenumbers' own text names its internals)."""
    import phonenumbers

    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
            "its country code is missing or unknown; write it as + then the country code"
        ),
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it holds no phone number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: (
            "it is too short after the international prefix"
        ),
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "it has too few digits",
        phonenumbers.NumberParseException.TOO_LONG: "it has too many digits",
    }
    return reasons.get(exc.error_type, "it cannot be read as a phone number")


@lru_cache(maxsize=65536)
def _phone(value: str) -> Recipient:
    import phonenumbers

    number = _from_e164(value)
    if number is None:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise InvalidRecipient(
                f"{value!r} is not a phone number in international form (+ and country code): "
                f"{_why(exc)}"
            ) from None
    # the region is worked out once and reused: is_valid_number would work it out again
    market = _region_of(number)
    kind = _kind(number, market) if market is not None else UNKNOWN
    area = _area(number)
    if kind == UNKNOWN and area is not None:
        # not valid in the country its area code's numbers are in: ask phonenumbers
        market = phonenumbers.region_code_for_number(number)
        kind = _kind(number, market) if market is not None else UNKNOWN
    if kind == UNKNOWN:
        raise InvalidRecipient(f"{value!r} is not a valid phone number")
    if area is not None:
        # only a valid number's country is kept for its area code: phonenumbers names some
        # country even for an invalid number
        _NANP_AREAS[area] = market
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region = _us_state(number) if market == "US" else None
    zones = _timezones(e164, number, kind)
    if area is not None and market == "US":
        # an area code can span two zones (850: Eastern and Central Florida) while an
        # exchange's own entry names one, or none is placed: every zone the area code's
        # exchanges keep is checked, so a window must be open in all of them
        zones = tuple(dict.fromkeys((*zones, *_area_zones(area))))
    main = STATE_MAIN_ZONE.get(region or "")
    if main is not None and main not in zones:
        # the number's zone data can be wrong (phonenumbers places Orlando's 689 in Central
        # time); the zone most of its state keeps is checked as well, so a window must be open
        # in both: at most an hour stricter at one end of the day for the state's other zone
        zones = (*zones, main)
    return Recipient(e164, market, zones, region, number)


def _kind(number: Any, region: str) -> int:
    """phonenumbers.number_type for a number whose country code is the region's, with the
    region's patterns compiled once; UNKNOWN means not a valid number. It follows
    phonenumbers' order: the general pattern, then each type (lengths first)."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    descs = _descs(number.country_code, region)
    if descs is None:
        valid = phonenumbers.is_valid_number_for_region(number, region)
        return phonenumbers.number_type(number) if valid else PhoneNumberType.UNKNOWN
    if number.italian_leading_zero:
        nsn = phonenumbers.national_significant_number(number)
    else:
        nsn = str(number.national_number)
    general, types, fixed, mobile, same = descs
    if not _matches(nsn, general):
        return PhoneNumberType.UNKNOWN
    for kind, desc in types:
        if _matches(nsn, desc):
            return kind
    if _matches(nsn, fixed):
        if same or _matches(nsn, mobile):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not same and _matches(nsn, mobile):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _matches(nsn: str, desc: tuple[frozenset[int], Any] | None) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


@cache
def _descs(code: int, region: str) -> tuple[Any, ...] | None:
    import phonenumbers
    from phonenumbers import PhoneMetadata
    from phonenumbers import PhoneNumberType as T

    meta = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if meta is None or (
        region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
        and code != phonenumbers.country_code_for_valid_region(region)
    ):
        return None

    def compiled(desc: Any) -> tuple[frozenset[int], Any] | None:
        if desc is None or not desc.national_number_pattern:
            return None
        return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)

    kinds = (
        (T.PREMIUM_RATE, meta.premium_rate),
        (T.TOLL_FREE, meta.toll_free),
        (T.SHARED_COST, meta.shared_cost),
        (T.VOIP, meta.voip),
        (T.PERSONAL_NUMBER, meta.personal_number),
        (T.PAGER, meta.pager),
        (T.UAN, meta.uan),
        (T.VOICEMAIL, meta.voicemail),
    )
    types = [(kind, c) for kind, desc in kinds if (c := compiled(desc)) is not None]
    return (
        compiled(meta.general_desc),
        types,
        compiled(meta.fixed_line),
        compiled(meta.mobile),
        bool(meta.same_mobile_and_fixed_line_pattern),
    )


_E164 = re.compile(r"\+([1-9]\d{6,14})")


def _from_e164(value: str) -> Any:
    """A number already in E.164 form, read without phonenumbers' general parser (which
    spends most of its time on formats a campaign list does not use): what parse() would
    return, or None to leave the value to parse(). Anything parse() would read differently
    (a national prefix or leading zero after the country code) is left to it."""
    found = _E164.fullmatch(value)
    if found is None:
        return None
    digits = found.group(1)
    for size in (1, 2, 3):  # country codes are a prefix code: at most one of these is one
        plan = _plan(int(digits[:size]))
        if plan is not None:
            break
    else:
        return None
    national = digits[size:]
    prefix = plan[1]
    if not national or national[0] == "0" or (prefix is not None and prefix.match(national)):
        return None
    return plan[0](country_code=int(digits[:size]), national_number=int(national))


@cache
def _plan(code: int) -> tuple[Any, Any] | None:
    """For a country code: the PhoneNumber type and the national prefix phonenumbers would
    strip; None when the code is not one."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    regions = phonenumbers.region_codes_for_country_code(code)
    if not regions:
        return None
    meta = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
    if meta is None:
        return None
    pattern = meta.national_prefix_for_parsing
    return phonenumbers.PhoneNumber, re.compile(pattern) if pattern else None


def _region_of(number: Any) -> str | None:
    """The number's country. Most country codes have one; in the North American plan the
    area code decides, so a valid number's answer is kept per area code rather than worked
    out by trying the patterns of 25 countries for every number."""
    import phonenumbers

    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if len(regions) == 1:
        return regions[0]
    area = _area(number)
    if area is not None and area in _NANP_AREAS:
        return _NANP_AREAS[area]
    return phonenumbers.region_code_for_number(number)


def _area(number: Any) -> str | None:
    """The area code of a ten-digit North American number (shorter ones, such as Canada's
    310-xxxx, have none)."""
    if number.country_code != 1 or not 10**9 <= number.national_number < 10**10:
        return None
    return str(number.national_number)[:3]


UNKNOWN = 99  # phonenumbers.PhoneNumberType.UNKNOWN
_NANP_AREAS: dict[str, str] = {}
_US_CODES = frozenset(US_STATES.values())
