"""How a message's opt-out link is found: after its words, around them (HTML), in its own
address, or just before them ("visit URL to opt out"); a link that stands before a reply
instruction ("Info: URL Reply STOP to opt out") is not the opt-out's link."""

from __future__ import annotations

import pytest

from compliance import optout


@pytest.mark.parametrize(
    "text",
    [
        "To stop getting these emails, use this link:\nhttps://acme.example/u",
        "Unsubscribe: acme.example/stop",
        '<a href="https://acme.example/u">Unsubscribe</a>',
        "Visit acme.example/o to opt out",
        "Go to acme.example/prefs to unsubscribe from these texts",
        "Manage or stop: https://acme.example/unsubscribe",
        "Baja de estos SMS: brisa.example/baja",
    ],
)
def test_an_opt_out_link_is_found(text):
    assert optout.links(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Info: https://kestrelcoffee.example/ca Reply STOP to opt out.",
        "Details at acme.example/sale. Reply STOP to opt out",
        "Order at acme.example/menu, text STOP to 60777 to stop",
        "Stop by our store at acme.example/stores",
    ],
)
def test_a_link_beside_a_reply_instruction_is_not_the_opt_outs(text):
    assert not optout.links(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Werbewiderspruch jederzeit: velora.example/w",
        "Cancela tu suscripción en velora.example/c",
        "Baja en velora.example/b",
        "Stop SMS : velora.example/stop",
    ],
)
def test_opt_out_link_wording_in_the_markets_languages(text):
    assert optout.links(text), text


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("sende STOPP an die 80888", "STOPP"),
        ("envía BAJA al número 25521", "BAJA"),
        ("invia STOP allo 48000", "STOP"),
        ("envoyez STOP au numéro 36184", "STOP"),
        ("text STOP to the number 60777", "STOP"),
    ],
)
def test_a_keyword_sent_to_a_number_names_it_in_any_of_the_languages(text, keyword):
    (found,) = optout.replies(text, (keyword,))
    assert found.names_number, text


def test_a_keyword_reply_without_a_number_names_none():
    (found,) = optout.replies("Reply STOP to opt out", ("STOP",))
    assert not found.names_number
