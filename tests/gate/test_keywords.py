"""Inbound replies read as opt-out, opt-in, help, review or none: the normalisation steps, the
look-alike table, a corpus per market file (and with no market, as for email), a property
that no disguise of an opt-out word reads as nothing, and the gate end to end."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import Gate, Send
from compliance.gate import keywords as kw
from compliance.gate import lookalikes, textnorm
from compliance.packs import load_packs
from tests.conftest import Repo

PACKS = load_packs()
MARKETS = {code: market.parameters.keywords for code, market in PACKS.markets.items()}
OTHERS = [k for k in MARKETS.values() if k is not None]
CODES: list[str | None] = [*sorted(MARKETS), None]  # None: no market, as for email
FALLBACK = kw.fallback().opt_out
EVERY_WORD = sorted({*FALLBACK, *(w for k in OTHERS for w in k.opt_out)})


def read(text: str, code: str | None, *, after_prompt: bool = False) -> str:
    keywords = MARKETS[code] if code else None
    return kw.classify(text, keywords, after_prompt=after_prompt, extra=OTHERS)


# --- normalisation, one step at a time ----------------------------------------------------


def test_compatible_folds_fullwidth_mathematical_and_circled_forms():
    assert textnorm.compatible("ＳＴＯＰ 𝐒𝐓𝐎𝐏 𝕊𝕋𝕆ℙ ⓈⓉⓄⓅ") == "STOP STOP STOP STOP"
    assert textnorm.compatible("don’t m'envoyer don´t") == "dont menvoyer dont"


def test_visible_drops_format_and_other_invisible_characters():
    hidden = "S\u200dT\u200bO\u2060P\u00ad\u200e\ufeff\u3164\u034f\ufe0f"
    assert textnorm.visible(hidden) == "STOP"


def test_unmarked_drops_accents_and_stacked_marks():
    assert textnorm.unmarked("ARRÊT não S̷T̷O̷P̷ Z̴̢̛a̶l̷g̸o") == "ARRET nao STOP Zalgo"


def test_tokens_split_on_punctuation_and_emoji_and_read_digits_in_words():
    assert textnorm.tokens("stop!!🛑(now)_ok") == ["STOP", "NOW", "OK"]
    assert textnorm.tokens("ST0P 36180 UNSUBSCR1BE") == ["STOP", "36180", "UNSUBSCRLBE"]


def test_joined_collapses_letters_written_one_by_one():
    assert textnorm.joined(["S", "T", "O", "P"]) == ["STOP"]
    assert textnorm.joined(["PLEASE", "S", "T", "0", "P"]) == ["PLEASE", "STOP"]
    assert textnorm.joined(["I", "AM", "A", "2"]) == ["I", "AM", "A2"]
    assert textnorm.joined(["ROOM", "4"]) == ["ROOM", "4"]


def test_unquoted_drops_the_quoted_message_of_an_email_reply():
    reply = "Thanks!\n\nOn Mon, Acme wrote:\n> Reply STOP to opt out\n>> unsubscribe"
    assert textnorm.unquoted(reply) == "Thanks!\n\nOn Mon, Acme wrote:"
    assert textnorm.unquoted("> STOP") == "> STOP"  # nothing else: kept whole


@pytest.mark.parametrize(
    "text, words",
    [
        ("Stop.", "STOP"),
        ("🛑 stop!!", "STOP"),
        ("s.t.o.p", "STOP"),
        ("s-t-o-p", "STOP"),
        ("S T O P", "STOP"),
        ("ＳＴＯＰ", "STOP"),
        ("S\u200dT\u200dO\u200dP", "STOP"),
        ("S\u0422\u041e\u0420", "STOP"),  # Cyrillic Т, О, Р
        ("\u0455\u0442\u043e\u0440", "STOP"),  # Cyrillic ѕ, т, о, р
        ("\u03a3TO\u03a0", "STOP"),  # Greek Σ and Π look like no Latin letter: transliterated
        ("ᴜɴsᴜʙsᴄʀɪʙᴇ", "UNSUBSCRIBE"),  # small capitals
        ("🇸🇹🇴🇵 🆂🆃🅾🅿", "STOP STOP"),  # regional indicators, negative squared letters
        ("Straße", "STRASSE"),
        ("opt-out", "OPT OUT"),
    ],
)
def test_normalise(text, words):
    assert textnorm.normalise(text) == words


# --- look-alike letters: Unicode's confusables.txt ----------------------------------------

LOOKALIKES = {
    "S": "\u0405\u0455\ua4e2\u054f𝐒",  # Cyrillic Ѕ ѕ, Lisu ꓢ, Armenian Տ, mathematical bold
    "T": "\u0422\u03a4\u0442\u1d1b\ua4d4",  # Cyrillic Т, Greek Τ, Cyrillic т, small capital
    "O": "\u041e\u039f\u043e\u03bf\u0555\u0d20",  # Cyrillic, Greek, Armenian Օ, Malayalam ഠ
    "P": "\u0420\u03a1\u0440\u03c1\ua4d1",
    "U": "\u1d1c\u054d\u03c5\u057d",  # small capital, Armenian Ս ս, Greek υ
    "N": "\u039d\u0274\ua4e0\u0578",  # Greek Ν, small capital ɴ, Lisu, Armenian ո
    "B": "\u0412\u0392\u0299\u13f4",  # Cyrillic В, Greek Β, small capital ʙ, Cherokee
    "C": "\u0421\u0441\u03f9\u03f2\ua4da",
    "R": "\u0280\u0433\u13a1\ua4e3",  # small capital ʀ, Cyrillic г, Cherokee, Lisu
    "I": "\u0406\u0399\u0456\u0131\u026a",  # Cyrillic І і, Greek Ι, dotless ı, small capital
    "E": "\u0415\u0395\u0435\ua4f0",
    "A": "\u0410\u0391\u0430\u0251",
    "L": "\u13de\u14aa\ua4e1",  # Cherokee, Canadian syllabics, Lisu
    "M": "\u041c\u039c\u043c\u03fa",
    "D": "\u0501\u13a0\ua4d3",
    "Q": "\u051b",  # Cyrillic ԛ
}


@pytest.mark.parametrize("letter", sorted(LOOKALIKES))
def test_lookalikes_of_the_letters_of_opt_out_words_read_as_latin(letter):
    for char in LOOKALIKES[letter]:
        assert textnorm.fold(textnorm.normalise(char)) == textnorm.fold(letter), (
            letter,
            unicodedata.name(char),
        )


def test_the_table_is_unicodes_confusables_with_thousands_of_entries():
    assert len(lookalikes._table()) > 1000
    assert lookalikes.latin("\u0627") == "l"  # Arabic alef, stored wrapped in LRM marks
    assert lookalikes.latin("A") == "A" and lookalikes.latin("ж") == "ж"
    assert lookalikes.as_letter("0") == "O" and lookalikes.as_letter("1") == "l"


# --- the corpus: every market file, and no market --------------------------------------------


def own_words(code: str | None) -> list[str]:
    if code is None:
        return EVERY_WORD
    keywords = MARKETS[code]
    return sorted({*FALLBACK, *(keywords.opt_out if keywords else [])})


CYRILLIC = str.maketrans("ABCEHKMOPTXSIJ", "АВСЕНКМОРТХЅІЈ")
GREEK = str.maketrans("ABEZHIKMNOPTYX", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


def variants(word: str) -> list[str]:
    letters = [c for c in word if c != " "]
    return [
        word,
        word.lower(),
        word.title(),
        f"{word}!!",
        f"{word.lower()}.",
        f"🛑 {word.lower()}",
        f'  "{word}"  ',
        " ".join(letters),
        ".".join(letters),
        "-".join(letters).lower(),
        word.translate(FULLWIDTH),
        word.translate(CYRILLIC),
        word.translate(GREEK),
        "\u200d".join(letters),
        f"{word} please",
        f"ok {word.lower()} thanks",
        f"{word} {word}",
    ]


@pytest.mark.parametrize("code", CODES, ids=str)
def test_every_opt_out_word_of_the_market_in_any_dress_is_an_opt_out(code):
    missed = [
        (v, read(v, code))
        for w in own_words(code)
        for v in variants(w)
        if read(v, code) != "opt_out"
    ]
    assert not missed, missed


ENGLISH = [
    "Please stop texting me",
    "stop sending me these messages",
    "remove me",
    "Remove me from your list",
    "take me off your list",
    "opt me out",
    "opt-out",
    "no more",
    "no more messages please",
    "unsubscribe me",
    "cancel",
    "leave me alone",
    "don't text me again",
    "I don't want these texts",
    "wrong number",
]
GERMAN = ["bitte keine SMS mehr", "Keine Werbung!", "Bitte abmelden", "STOPP", "Abbestellen"]
GERMAN += ["hört auf, mir zu schreiben", "Lasst mich in Ruhe", "Ich widerspreche"]
FRENCH = ["ne plus m'envoyer de SMS", "Ne m'envoyez plus rien", "Plus de SMS svp", "ARRÊT"]
FRENCH += ["désabonner", "Arrêtez de m'envoyer des messages", "je ne veux plus recevoir", "Arrête"]
PORTUGUESE = ["não quero mais receber", "Pare de me mandar mensagens", "me tire da lista"]
PORTUGUESE += ["SAIR", "Pare", "cancelar", "descadastrar", "Chega de mensagens"]
SPANISH = ["No más", "no me envíen más mensajes", "dejen de enviar"]
LANGUAGES = {
    "US": ENGLISH + SPANISH,
    "CA": ENGLISH + ["ARRET", "arrêt", "Arrêtez de m'envoyer des messages"],
    "GB": ENGLISH + ["STOP ALL"],
    "AU": ENGLISH,
    "SG": ENGLISH,
    "IN": ENGLISH,
    "DE": ENGLISH + GERMAN,
    "FR": ENGLISH + FRENCH,
    "BR": ENGLISH + PORTUGUESE,
    "ES": ENGLISH + SPANISH + ["BAJA", "Baja", "quiero darme de baja"],
    # no Italian opt-out word could be cited (markets/it.yaml): STOP and English wording
    "IT": ENGLISH,
    None: ENGLISH + GERMAN + FRENCH + PORTUGUESE + SPANISH,
}


def test_every_market_file_has_its_languages_here():
    assert set(LANGUAGES) == set(CODES)


@pytest.mark.parametrize("code", CODES, ids=str)
def test_wording_in_the_markets_languages_is_an_opt_out(code):
    missed = [(text, read(text, code)) for text in LANGUAGES[code] if read(text, code) != "opt_out"]
    assert not missed, missed


REVIEWS = [
    "stop? who is this",
    "STOP sending at night maybe",
    "I'll stop by later",
    "STPO",
    "UNSUBSCRIBR",
    "UNSUBSCRIBE?? how",
    "pleasestop",
    "stopover",
    "S|T|O|P|A||",
    "🛑",
    "how do I opt out",
    "can I cancel my appointment",
    "the end",
]


@pytest.mark.parametrize("code", CODES, ids=str)
def test_what_might_be_an_opt_out_goes_to_review(code):
    wrong = [(text, read(text, code)) for text in REVIEWS if read(text, code) != "review"]
    assert not wrong, wrong


NOT_OPT_OUTS = [
    "thanks",
    "thanks!",
    "what time is my appointment",
    "Ok see you then 👍",
    "YES",
    "endless",
    "backend",
    "Is the shop open on Sunday?",
    "Danke, bis morgen",
    "Merci, à demain",
    "Obrigado, até amanhã",
    "Thanks\n\nOn Mon, Acme wrote:\n> Reply STOP to opt out",
]


@pytest.mark.parametrize("code", CODES, ids=str)
def test_ordinary_replies_are_nothing(code):
    wrong = [(text, read(text, code)) for text in NOT_OPT_OUTS if read(text, code) != "none"]
    assert not wrong, wrong


@pytest.mark.parametrize(
    "code, text",
    [("US", "ABMELDEN"), ("US", "STOPP"), ("GB", "SAIR"), ("DE", "PARE"), ("BR", "ARRET")],
)
def test_another_markets_word_is_a_review_where_a_market_is_known(code, text):
    assert read(text, code) == "review"
    assert read(text, None) == "opt_out"  # email: no market, every market's words


@pytest.mark.parametrize(
    "code, text, action",
    [
        ("US", "START", "opt_in"),
        ("US", "unstop", "opt_in"),
        ("US", "HELP", "help"),
        ("US", "info", "help"),
        ("CA", "AIDE", "help"),
        ("BR", "AJUDA", "help"),
        ("US", "YES", "none"),
    ],
)
def test_opt_in_and_help_words_keep_working(code, text, action):
    assert read(text, code) == action


def test_yes_opts_in_only_after_a_prompt():
    assert read("Yes please", "US", after_prompt=True) == "opt_in"
    assert read("Yes please", "US") == "none"


def test_reasonable_wording_is_a_review_where_the_market_does_not_say_it_counts():
    strict = MARKETS["US"].model_copy(update={"reasonable_opt_out": False})
    assert kw.classify("please stop texting me", strict) == "review"
    assert kw.classify("STOP", strict) == "opt_out"


def test_every_shipped_market_and_no_market_hears_stop_and_unsubscribe():
    assert {"STOP", "UNSUBSCRIBE"} <= set(FALLBACK)
    for code in CODES:
        assert read("STOP", code) == read("unsubscribe", code) == "opt_out", code


def test_the_fallback_cites_its_sources():
    assert len(kw.fallback().citations) >= 3
    assert all(c.url for c in kw.fallback().citations)


def test_a_reply_is_read_fast():
    import time

    text = "Please stop texting me, I never signed up for this and I do not want it"
    read(text, "US")
    start = time.perf_counter()
    for _ in range(200):
        read(text, "US")
    assert (time.perf_counter() - start) / 200 < 0.005  # generous: a shared CI machine


# --- property: no disguise of an opt-out word reads as nothing ---------------------------------


def _lookalikes_of(letter: str) -> list[str]:
    table = lookalikes._table()
    same = textnorm.fold(letter.upper())
    found = [c for c, latin in table.items() if textnorm.fold(latin.upper()) == same]
    return sorted(found) or [letter]


SEPARATORS = [" ", ".", "-", "_", "*", "/", "\u200d", "\u200b", "\u00ad", "  ", " . "]
AROUND = ["", " ", "!!", "?", ".", "🛑", "🙏", "***", '"', "(", ")", "\n", "...", "👉 "]


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.sampled_from(EVERY_WORD))
    out = []
    for char in word:
        if char == " ":
            out.append(draw(st.sampled_from([" ", "-", "  ", "."])))
            continue
        how = draw(st.sampled_from(["upper", "lower", "lookalike", "fullwidth", "mark"]))
        if how == "lookalike":
            char = draw(st.sampled_from(_lookalikes_of(char)))
        elif how == "fullwidth" and char.isascii():
            char = chr(ord(char.upper()) + 0xFEE0)
        elif how == "mark":
            char += draw(st.sampled_from(["\u0301", "\u0336", "\u0308", "\u20dd"]))
        else:
            char = char.upper() if how == "upper" else char.lower()
        out.append(char)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
    text = draw(st.sampled_from(AROUND)) + "".join(out) + draw(st.sampled_from(AROUND))
    return word, text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=disguised(), code=st.sampled_from(CODES))
def test_a_disguised_opt_out_word_is_never_nothing(case, code):
    word, text = case
    assert read(text, code) != "none", (word, text)


# --- end to end: the gate --------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOON_CET = dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.timezone.utc)  # a Wednesday
GERMAN_NUMBER, INDIAN_NUMBER, ADDRESS = "+4915112345678", "+919812345678", "ana@example.com"
IN_OFFER = """
kind: template
id: in-weekend-thali
channel: sms
purpose: marketing
markets: [IN]
sender: tiffinly-promo
consent_scope: in-sms-offers
status: approved
body: "Tiffinly: weekend thali at 20% off, order in the app. T&C apply"
registrations:
  IN:
    dlt_template_id: "1207170012345678901"
    category: promotional
    content: "Tiffinly: weekend thali at 20% off, order in the app. T&C apply"
"""


@pytest.fixture
def gate(tmp_path, ledger_at):
    repo = Repo(tmp_path / "repo")
    for example, name in [
        ("europe/senders/velora-de.yaml", "senders/de.yaml"),
        ("europe/scopes/de-sms-newsletter.yaml", "scopes/de.yaml"),
        ("europe/templates/clean/de-fruehlingssale.yaml", "templates/de.yaml"),
        ("india/senders/tiffinly-promo.yaml", "senders/in.yaml"),
        ("india/scopes/in-sms-offers.yaml", "scopes/in.yaml"),
        ("channels/senders/kestrel-mail.yaml", "senders/mail.yaml"),
        ("channels/scopes/email-newsletter.yaml", "scopes/mail.yaml"),
        ("channels/templates/clean/email-new-harvest.yaml", "templates/mail.yaml"),
    ]:
        repo.write(name, (EXAMPLES / example).read_text("utf-8"))
    repo.write("templates/in.yaml", IN_OFFER)
    opened = Gate.open(
        repo=repo.path,
        ledger=ledger_at,
        create=True,
        clock=lambda: NOON_CET - dt.timedelta(minutes=5),
    )
    yield opened
    opened.close()


@pytest.mark.parametrize(
    "subject, channel, scope, template, reply",
    [
        (GERMAN_NUMBER, "sms", "de-sms-newsletter", "de-fruehlingssale", "STOPP"),
        (GERMAN_NUMBER, "sms", "de-sms-newsletter", "de-fruehlingssale", "STOP"),
        (INDIAN_NUMBER, "sms", "in-sms-offers", "in-weekend-thali", "STOP"),
        (ADDRESS, "email", "email-newsletter", "email-new-harvest", "unsubscribe"),
        (ADDRESS, "email", "email-newsletter", "email-new-harvest", "ABMELDEN"),
    ],
)
def test_an_opt_out_reply_stops_marketing(gate, subject, channel, scope, template, reply):
    before = NOON_CET - dt.timedelta(days=1)
    gate.ledger.grant(subject=subject, channel=channel, scope=scope, source="form", at=before)
    assert gate.check(Send(to=subject, template=template, at=NOON_CET)).allowed
    result = gate.ledger.inbound(subject=subject, text=reply, channel=channel, at=NOON_CET)
    assert result.action == "opt_out"
    later = gate.check(Send(to=subject, template=template, at=NOON_CET + dt.timedelta(minutes=1)))
    assert later.outcome == "deny" and "consent.revoked" in later.codes


def test_a_doubtful_email_reply_holds_marketing(gate):
    before = NOON_CET - dt.timedelta(days=1)
    gate.ledger.grant(
        subject=ADDRESS, channel="email", scope="email-newsletter", source="form", at=before
    )
    result = gate.ledger.inbound(
        subject=ADDRESS, text="unsubscribe? why", channel="email", at=NOON_CET
    )
    assert result.action == "review"
    later = gate.check(
        Send(to=ADDRESS, template="email-new-harvest", at=NOON_CET + dt.timedelta(minutes=1))
    )
    assert not later.allowed
