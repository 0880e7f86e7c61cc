"""Links in message text, with or without a scheme: `https://bit.ly/x` and `bit.ly/x` alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

# a host of two or more labels ending in a letters-only TLD, an optional port and path; not
# preceded by @ (an email address) or a word character (so "e.g." and "v1.2" stay text)
_LINK = re.compile(
    r"(?<![\w@.-])(?:(?P<scheme>https?)://)?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})"
    r"(?::\d{1,5})?(?P<path>/[^\s<>\"']*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    host: str
    start: int
    end: int


def links(text: str) -> Iterator[Link]:
    for match in _LINK.finditer(text):
        host = match.group("host").lower()
        # "Msg.Rates" is not a link; a bare host needs a path, a scheme or a well-known form
        if not match.group("scheme") and not match.group("path") and not _plausible(host):
            continue
        yield Link(match.group(0).rstrip(".,;:!?)"), host, match.start(), match.end())


_COMMON_TLDS = frozenset(
    "com org net io co ly me app dev info biz us uk ca in sg au br de fr eu gl gd to link page "
    "site shop store online xyz ai tv".split()
)


def _plausible(host: str) -> bool:
    return host.rsplit(".", 1)[-1] in _COMMON_TLDS


def host_matches(host: str, domains: list[str]) -> bool:
    """`host` is one of `domains` or a subdomain of one: the host itself or what follows one
    of its dots is a domain of the list (a set made once per list, not a scan per link)."""
    wanted = _domain_set(tuple(domains))
    if host in wanted:
        return True
    at = host.find(".")
    while at != -1:
        if host[at + 1 :] in wanted:
            return True
        at = host.find(".", at + 1)
    return False


@lru_cache(maxsize=256)
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.lower() for d in domains)
