"""Who a send goes to: a phone number parsed and normalised with phonenumbers (or an email
address), its market, its time zones and, in the US, its state."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

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


class InvalidRecipient(ValueError):
    """Not a valid phone number or email address."""


@dataclass(frozen=True)
class Recipient:
    subject: str  # E.164 number or lower-cased email address: the ledger's key
    market: str | None  # ISO 3166-1 alpha-2 of the number; None for email
    number: Any = field(default=None, compare=False, repr=False)  # phonenumbers' PhoneNumber

    @property
    def is_phone(self) -> bool:
        return self.subject.startswith("+")

    @cached_property
    def timezones(self) -> tuple[str, ...]:
        """IANA zones the number may be in (computed on first use: only quiet hours ask)."""
        if self.number is None:
            return ()
        from phonenumbers import timezone

        # the number is valid already: skip the number-type lookup time_zones_for_number does
        zones = timezone.time_zones_for_geographical_number(self.number)
        if not zones or set(zones) <= {timezone.UNKNOWN_TIMEZONE}:
            zones = timezone.time_zones_for_number(self.number)
        return tuple(z for z in zones if z != "Etc/Unknown")

    @cached_property
    def region(self) -> str | None:
        """ISO 3166-2 subdivision where the numbering plan tells it (US-FL), else None."""
        if self.number is None or self.market != "US":
            return None
        # an area code lies within one state, so the geocoder is asked once per area code
        area = str(self.number.national_number)[:3]
        if area not in _US_AREA_STATES:
            from phonenumbers import geocoder

            place = geocoder.description_for_valid_number(self.number, "en")
            state = place.rsplit(", ", 1)[-1] if ", " in place else US_STATES.get(place)
            _US_AREA_STATES[area] = f"US-{state}" if state and len(state) == 2 else None
        return _US_AREA_STATES[area]


def parse(value: str, channel: str | None = None) -> Recipient:
    """A phone number (E.164 or with a leading +) or, for email, an address."""
    value = (value or "").strip()
    if channel == "email" or ("@" in value and not value.startswith("+")):
        if not _EMAIL.match(value):
            raise InvalidRecipient(f"{value!r} is not an email address")
        local, _, domain = value.rpartition("@")
        return Recipient(f"{local}@{domain.lower()}", None)
    return _phone(value)


@lru_cache(maxsize=65536)
def _phone(value: str) -> Recipient:
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(
            f"{value!r} is not a phone number in international form (+ and country code): {exc}"
        ) from None
    # the region is worked out once and reused: is_valid_number would work it out again
    market = _region_of(number)
    if market is None or not phonenumbers.is_valid_number_for_region(number, market):
        raise InvalidRecipient(f"{value!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Recipient(e164, market, number)


def _region_of(number: Any) -> str | None:
    """The number's country. Most country codes have one; in the North American plan the
    area code decides, so the answer is kept per area code rather than worked out by trying
    the patterns of 25 countries for every number."""
    import phonenumbers

    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if len(regions) == 1:
        return regions[0]
    if number.country_code == 1:
        area = str(number.national_number)[:3]
        if area not in _NANP_AREAS:
            _NANP_AREAS[area] = phonenumbers.region_code_for_number(number)
        return _NANP_AREAS[area] or phonenumbers.region_code_for_number(number)
    return phonenumbers.region_code_for_number(number)


_NANP_AREAS: dict[str, str | None] = {}
_US_AREA_STATES: dict[str, str | None] = {}
