"""What mail and phone software adds around a reply: the person's own words found under it, and
every clear opt-out (each market's words, and wording) still a clear one with any of it."""

from __future__ import annotations

import pytest

from compliance.gate import keywords as kw
from compliance.gate import signatures
from compliance.packs import load_packs

PACKS = load_packs()
MARKETS = {code: market.parameters.keywords for code, market in PACKS.markets.items()}
OTHERS = [k for k in MARKETS.values() if k is not None]
CODES: list[str | None] = [*sorted(MARKETS), None]  # None: no market, as for email


def read(text: str, code: str | None) -> str:
    return kw.classify(text, MARKETS[code] if code else None, extra=OTHERS)


def clear_words(code: str | None) -> list[str]:
    """The words that are a clear opt-out as the whole reply where `code` is the market."""
    fallback = kw.fallback()
    if code is None:
        every = (w for k in OTHERS for w in (*k.opt_out, *k.opt_out_alone))
        return sorted({*fallback.opt_out, *every})
    keywords = MARKETS[code]
    own = [*keywords.opt_out, *keywords.opt_out_alone] if keywords else []
    return sorted({*fallback.opt_out, *own})


# what follows a reply: a phone's or mail app's line, a signature, a sign-off, the quoted message
TRAILERS = [
    "\nSent from my iPhone",
    "\n\nSent from my Samsung Galaxy smartphone.",
    "\n\nGet Outlook for Android",
    "\n\nGet Outlook for iOS",
    "\n\nSent from Yahoo Mail for iPhone",
    "\n\nVon meinem iPhone gesendet",
    "\n\nEnvoyé de mon iPhone",
    "\n\nEnviado desde mi iPhone",
    "\n\nEnviado do meu iPhone",
    "\n-- \nJane Doe\nAcme Corp | +1 555 0100\nwww.acme.example",
    "\n--\nJane",
    "\n\nThanks,\nJohn Smith\nAcme Corp\n555-1234",
    "\n\nMit freundlichen Grüßen\nMax Mustermann",
    "\n\nCordialement,\nJean",
    "\n- Jane",
    "\n\nOn Mon, 3 Jun 2024 at 10:00, Acme <news@acme.example> wrote:\n> Big sale today!\n"
    "> Reply STOP to opt out",
    "\n\nOn Mon, Jun 3, 2024 at 10:00 AM Acme Corp <\nnews@acme.example> wrote:\n> Sale!",
    "\n\nAm Mo., 3. Juni 2024 um 10:00 Uhr schrieb Acme <news@acme.example>:\n> Angebot",
    "\n\n-----Original Message-----\nFrom: Acme\nSent: Monday, June 3, 2024 10:00\n"
    "Subject: Sale\n\nBig sale! Reply STOP to opt out",
    "\n\nFrom: Acme <news@acme.example>\nSent: Monday, June 3, 2024 10:00\nTo: Jane",
    "\n\nSent from my iPhone\n\nOn Mon, Acme <news@acme.example> wrote:\n> Sale!",
]


@pytest.mark.parametrize(
    "text, own",
    [
        ("STOP\nSent from my iPhone", "STOP"),
        ("STOP\n-- \nJane Doe\nAcme", "STOP"),
        ("STOP\n\nThanks,\nJohn Smith\nAcme Corp", "STOP"),
        ("STOP\n- Jane", "STOP"),
        ("STOP\n\nOn Mon, Acme <a@b.example> wrote:\n> Reply STOP", "STOP"),
        ("Stop\n\n-----Original Message-----\nFrom: Acme\nReply STOP", "Stop"),
        # nothing else left, or nothing added: the reply itself
        ("Sent from my iPhone", "Sent from my iPhone"),
        ("Thanks,\nJohn", "Thanks,\nJohn"),
        ("> STOP", "> STOP"),
        ("please stop texting me", "please stop texting me"),
    ],
)
def test_own_is_the_reply_without_what_software_added(text, own):
    assert signatures.own(text) == own


def test_a_line_that_only_starts_like_an_app_line_is_the_persons():
    text = "STOP\nSent you the form yesterday, thanks to everyone who helped out with it again"
    assert signatures.own(text) == text


@pytest.mark.parametrize("code", CODES, ids=str)
def test_every_clear_opt_out_word_with_a_signature_is_an_opt_out(code):
    missed = [
        (word + trailer, read(word + trailer, code))
        for word in clear_words(code)
        for trailer in TRAILERS
        if read(word + trailer, code) != "opt_out"
    ]
    assert not missed, missed[:10]


WORDING = [
    "Please stop texting me",
    "remove me",
    "I want to opt out",
    "I did not sign up for this, stop",
    "leave me alone",
    "fuck off",
]


@pytest.mark.parametrize("trailer", TRAILERS)
def test_clear_wording_with_a_signature_is_an_opt_out(trailer):
    missed = [(t, read(t + trailer, "US")) for t in WORDING if read(t + trailer, "US") != "opt_out"]
    assert not missed, missed


@pytest.mark.parametrize(
    "text",
    [
        "Sent from my iPhone",
        "Get Outlook for Android",
        "See you then\n\nSent from my iPhone",
        "Thanks,\nJohn",
        "Thanks!\n\nOn Mon, Acme <news@acme.example> wrote:\n> Reply STOP to opt out",
        "Ok\n-- \nJane Doe\nAcme Corp",
    ],
)
def test_app_lines_and_signatures_alone_are_nothing(text):
    assert all(read(text, code) == "none" for code in CODES), text


@pytest.mark.parametrize(
    "text, reading",
    [
        # the stronger reading counts: what was taken away is still read with the whole reply
        ("Hi\n\nThanks,\nstop texting me", "opt_out"),
        ("When do you open?\n-- \nJane | Stop by our booth!", "review"),  # a false review, kept
        ("Hello\nSent from my iPhone, stop", "review"),
        ("START\nSent from my iPhone", "opt_in"),
        ("HELP\n\nGet Outlook for Android", "help"),
    ],
)
def test_taking_lines_away_never_weakens_a_reading(text, reading):
    assert read(text, "US") == reading
