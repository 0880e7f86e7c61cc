"""Opt-outs in the languages people in each market write: the replies an adversarial review
found read as nothing, each market's words and wording, words that count only as the whole
reply, other scripts, held letters, properties that no disguise of those words or that wording
reads as nothing, ordinary replies in those languages, and the gate end to end."""

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


def read(text: str, code: str | None) -> str:
    return kw.classify(text, MARKETS[code] if code else None, extra=OTHERS)


# --- normalisation of other scripts ------------------------------------------------------


def test_an_abugidas_own_marks_stay_and_accents_go():
    assert textnorm.unmarked("बंद करो") == "बंद करो"  # ं and ो spell the word
    assert textnorm.unmarked("ब\u0301ंद") == "बंद"  # a Latin accent on it is a disguise
    assert textnorm.unmarked("تَوَقَّفْ") == "توقف"  # Arabic vowel marks are optional


def test_a_sign_typed_apart_from_its_letter_is_put_back():
    assert textnorm.reattached("ब ं द क र ो") == "बं द क रो"
    assert textnorm.normalise("ब ं द क र ो") == "बंदकरो"  # then joined, as "S T O P" is
    assert textnorm.normalise("ந.ி.ற.ு.த.்.த.ு") == "நிறுத்து"


def test_a_script_without_spaces_is_read_a_character_a_word():
    assert textnorm.tokens("请退订，谢谢") == ["请", "退", "订", "谢", "谢"]
    assert textnorm.normalise("STOP退订") == "STOP 退 订"
    assert textnorm.joined(["S", "T", "O", "P", "退", "订"]) == ["STOP", "退", "订"]


def test_letters_of_an_abugida_written_one_by_one_are_joined():
    assert textnorm.joined(["बं", "द", "क", "रो"]) == ["बंदकरो"]


def test_cyrillic_reads_the_same_however_it_is_typed():
    assert textnorm.normalise("СТОП") == textnorm.normalise("стоп") == "CTOП"
    assert textnorm.normalise("تـوقـف") == textnorm.normalise("توقف")  # tatweel stretches


def test_a_held_letter_is_read_as_one_and_as_two():
    assert textnorm.unstretched(["STOOOOP"]) == [["STOP"], ["STOOP"]]
    assert textnorm.unstretched(["ABBESTELLLLEN"])[1] == ["ABBESTELLEN"]
    assert textnorm.unstretched(["STOP", "NOW"]) == []


# --- the adversarial review: clear opt-outs that read as nothing -----------------------------

FOUND = [
    ("FR", "Arrête de m'envoyer des messages"),
    ("DE", "Bitte austragen"),
    ("DE", "Hör auf mir Werbung zu schicken"),
    ("DE", "Löschen Sie meine Nummer"),
    ("DE", "keine weiteren Nachrichten"),
    ("US", "BAJA"),
    ("US", "ALTO"),
    ("US", "PARAR"),
    ("US", "dar de baja"),
    ("US", "Basta ya"),
    ("US", "СТОП"),
    ("US", "стоп"),
    ("US", "stoooop"),
    ("SG", "退订"),
    ("SG", "取消订阅"),
    ("SG", "停止"),
    ("BR", "não quero mais"),
    ("BR", "PARAR"),
    ("BR", "Chega"),
    ("IN", "BLOCK"),
    ("IN", "बंद करो"),
]


@pytest.mark.parametrize("code, text", FOUND)
def test_what_the_review_found_is_an_opt_out(code, text):
    assert read(text, code) == "opt_out"
    assert read(text, None) == "opt_out"  # email: every market's words


# --- each market's words and wording ---------------------------------------------------------

WORDING = {
    "US": [
        "Ya no quiero mensajes",
        "No me manden más mensajes por favor",
        "Dejen de enviarme mensajes",
        "Quiero darme de baja",
        "Quiero la baja",
        "Por favor quítenme de la lista",
        "Borren mi número",
        "Ya no me manden nada",
        "Estoy cansado de sus mensajes, ya basta",
        "no más mensajes",
        "BAJA por favor",
        "Alto!!",
        "cancelar",
        "delete my number",
        "can you stop all these messages",
        "lose my number",
    ],
    "CA": ["désabonner", "Arrêter", "désinscrire", "Arrêtez de m'envoyer des messages"],
    "DE": [
        "Tragen Sie mich bitte aus der Liste aus",
        "Meine Nummer bitte löschen",
        "Schickt mir nichts mehr",
        "Ich möchte keine Werbung mehr bekommen",
        "Bitte keine weiteren Nachrichten",
        "Bitte nehmen Sie mich aus dem Verteiler",
        "Schluss mit der Werbung",
        "Hör auf!",
        "Hört auf damit",
        "Abbestellllen",  # a held letter that is also doubled in the word
    ],
    "FR": [
        "Arrêtez de m'envoyer des SMS",
        "Supprimez mon numéro",
        "Désinscrivez-moi",
        "Ne m'écrivez plus",
        "Je ne veux plus de vos pubs",
    ],
    "SG": [
        "不要再发",
        "请不要再发短信给我",
        "退订，谢谢",
        "麻烦退订",
        "我要退订",
        "停止发送广告",
        "别发了",
        "退訂",
        "BERHENTI",
        "Batal",
        "Berhenti hantar mesej",
        "Jangan hantar mesej lagi",
        "நிறுத்து",
        "நிறுத்தவும்",
        "தயவுசெய்து நிறுத்துங்கள்",
    ],
    "BR": [
        "Chega!",
        "Chega de mensagens",
        "Parem de me mandar mensagens",
        "Me tira da lista",
        "Não quero mais receber isso",
        "Não mandem mais",
    ],
    "IN": [
        "बंद करें",
        "रोकें",
        "बंद",
        "मैसेज मत भेजो",
        "कृपया मैसेज भेजना बंद करें",
        "Band karo",
        "message mat bhejo",
        "kripya band karein",
        "Stop kar do",
        "BLOCK these messages",
    ],
}
EVERYWHERE = ["Стоп!", "стоп пожалуйста", "STOPPPP", "unsubscribeee", "S T O O O P"]


@pytest.mark.parametrize("code", sorted(WORDING), ids=str)
def test_the_markets_words_and_wording_are_opt_outs(code):
    missed = [(t, read(t, code)) for t in WORDING[code] + EVERYWHERE if read(t, code) != "opt_out"]
    assert not missed, missed


def test_every_markets_wording_is_an_opt_out_where_no_market_is_known():
    texts = [t for texts in WORDING.values() for t in texts]
    missed = [(t, read(t, None)) for t in texts if read(t, None) != "opt_out"]
    assert not missed, missed


@pytest.mark.parametrize(
    "code, text",
    [
        ("US", "退订"),  # SG's word
        ("US", "Chega"),  # BR's, and an everyday word
        ("US", "बंद करो"),  # IN's
        ("GB", "block"),  # IN's, and an everyday word
        ("AU", "BERHENTI"),
        ("DE", "BAJA"),
        ("BR", "ALTO"),
        ("FR", "நிறுத்து"),
    ],
)
def test_another_markets_word_is_a_review(code, text):
    assert read(text, code) == "review"


# languages of no shipped market: read, but a person decides
OTHER_SCRIPTS = [
    "Отписаться",
    "отписка",
    "Прекратите присылать мне сообщения",
    "Хватит присылать рекламу",
    "توقف",
    "إيقاف",
    "توقف عن إرسال الرسائل",
    "الغاء الاشتراك",
]


@pytest.mark.parametrize("code", CODES, ids=str)
def test_russian_and_arabic_are_reviews_everywhere(code):
    wrong = [(t, read(t, code)) for t in OTHER_SCRIPTS if read(t, code) != "review"]
    assert not wrong, wrong


@pytest.mark.parametrize(
    "code, text",
    [
        ("BR", "Quando chega meu pedido?"),  # CHEGA: "arrives"
        ("BR", "Preço muito alto"),
        ("US", "Is the alto sax in stock?"),
        ("US", "El precio está muy alto"),
        ("US", "Pasta"),  # one letter off BASTA: no near miss for everyday words
        ("IN", "Please block my card"),
        ("IN", "दुकान कब बंद होती है?"),  # when does the shop close?
        ("SG", "取消订单"),  # cancel the order: one character off 取消订阅, not a typing slip
    ],
)
def test_an_everyday_opt_out_word_inside_other_text_is_nothing(code, text):
    assert read(text, code) == "none"


@pytest.mark.parametrize(
    "code, text",
    [
        ("US", "Borré el mensaje sin querer"),  # I deleted the message: no request
        ("US", "No me mandaron nada"),  # they sent me nothing: a complaint, not a request
        ("FR", "J'ai supprimé le message par erreur"),
        ("BR", "Excluí a mensagem"),
        ("BR", "Não mandei nada"),
        ("DE", "Ich habe die Nachricht gelöscht"),
        ("DE", "Die SMS kommt nicht mehr an"),
        ("SG", "别发货"),  # don't ship (别发 alone is "don't send")
    ],
)
def test_a_past_or_a_complaint_is_not_a_request(code, text):
    assert read(text, code) == "none"


@pytest.mark.parametrize(
    "code, text",
    [
        ("DE", "Bitte meine Nummer nicht löschen"),  # negated
        ("DE", "Wie kann ich mich vom Newsletter abmelden?"),  # asked about
        ("FR", "Comment supprimer le message ?"),
        ("DE", "Löschen Sie bitte den Termin am Montag und die alten Nachrichten"),  # far apart
        ("DE", "Hört ihr bitte auf"),  # a request and nothing it is aimed at
        ("BR", "não quero mais esperar"),  # BR's words inside other text
        ("SG", "停止了吗？"),  # has it stopped?
        ("US", "how do I unsubscribe from these texts"),
        ("US", "Baja Fresh tonight?"),  # BAJA inside English text: a false review, accepted
    ],
)
def test_doubtful_wording_is_a_review(code, text):
    assert read(text, code) == "review"


ORDINARY = [
    "¿a qué hora abren?",
    "Gracias, nos vemos mañana",
    "merci beaucoup",
    "obrigado",
    "Obrigado, chega amanhã?",
    "谢谢",
    "好的，明天见",
    "danke schön",
    "Terima kasih",
    "நன்றி",
    "धन्यवाद",
    "Спасибо",
    "شكرا",
    "Hellooo",
    "thanksss",
]


@pytest.mark.parametrize("code", CODES, ids=str)
def test_ordinary_replies_in_those_languages_are_nothing(code):
    wrong = [(t, read(t, code)) for t in ORDINARY if read(t, code) != "none"]
    assert not wrong, wrong


# --- properties: no disguise reads as nothing -------------------------------------------------

WORDS = sorted(
    {
        *kw.fallback().opt_out,
        *kw.fallback().review,
        *(w for k in OTHERS for w in (*k.opt_out, *k.opt_out_alone, *k.review)),
    }
)
SEPARATORS = [" ", ".", "-", "_", "*", "/", "\u200d", "\u200b", "\u00ad", "  ", " . "]
AROUND = ["", " ", "!!", "?", ".", "🛑", "🙏", "***", '"', "(", ")", "\n", "...", "👉 ", "。", "！"]


def graphemes(word: str) -> list[str]:
    """Letters with the marks written on them (बं, रो): a separator between a letter and its
    sign is not how anyone writes, so disguises go between these."""
    out: list[str] = []
    for char in word:
        if out and unicodedata.category(char)[0] == "M":
            out[-1] += char
        else:
            out.append(char)
    return out


def lookalikes_of(char: str) -> list[str]:
    """Characters read as the same Latin letter as `char` (С for C), else `char` alone."""
    target = textnorm.fold(lookalikes.latin(char).upper())
    if not target.isascii():
        return [char]
    table = lookalikes._table()
    found = [c for c, latin in table.items() if textnorm.fold(latin.upper()) == target]
    return sorted(found) or [char]


@st.composite
def disguised_word(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.sampled_from(WORDS))
    out = []
    for piece in graphemes(word):
        if piece == " ":
            out.append(draw(st.sampled_from([" ", "-", "  ", "."])))
            continue
        how = draw(st.sampled_from(["upper", "lower", "lookalike", "fullwidth", "mark"]))
        if how == "lookalike" and len(piece) == 1:
            piece = draw(st.sampled_from(lookalikes_of(piece)))
        elif how == "fullwidth" and piece.isascii():
            piece = chr(ord(piece.upper()) + 0xFEE0)
        elif how == "mark":
            piece += draw(st.sampled_from(["\u0301", "\u0336", "\u0308", "\u20dd"]))
        else:
            piece = piece.upper() if how == "upper" else piece.lower()
        out.append(piece)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
    text = draw(st.sampled_from(AROUND)) + "".join(out) + draw(st.sampled_from(AROUND))
    return word, text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=disguised_word(), code=st.sampled_from(CODES))
def test_a_disguised_word_of_any_language_is_never_nothing(case, code):
    word, text = case
    assert read(text, code) != "none", (word, text)


PHRASES = [(code, text) for code, text in FOUND if " " in text]
PHRASES += [(code, text) for code, texts in WORDING.items() for text in texts if " " in text]


@st.composite
def disguised_wording(draw: st.DrawFn) -> tuple[str, str, str]:
    code, text = draw(st.sampled_from(PHRASES))
    out = []
    for char in text:
        if char == " ":
            char = draw(st.sampled_from([" ", "  ", " - ", ", ", "... ", " 🙏 ", "\n"]))
        elif char.isascii() and char.isalpha():
            how = draw(st.sampled_from(["upper", "lower", "lookalike", "fullwidth"]))
            if how == "lookalike":
                char = draw(st.sampled_from(lookalikes_of(char)))
            elif how == "fullwidth":
                char = chr(ord(char) + 0xFEE0)
            else:
                char = char.upper() if how == "upper" else char.lower()
        out.append(char)
    around = draw(st.sampled_from(AROUND)), draw(st.sampled_from(AROUND))
    return code, text, around[0] + "".join(out) + around[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=disguised_wording())
def test_disguised_wording_in_its_market_is_an_opt_out(case):
    code, text, disguised = case
    # | is read as a separator, then as a letter: a reply that needs it is only a review
    expected = ("opt_out",) if "|" not in disguised else ("opt_out", "review")
    assert read(disguised, code) in expected, (text, disguised)


# --- end to end: the gate ------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apac-americas"
SINGAPORE_NUMBER, BRAZIL_NUMBER = "+6591234567", "+5511912345678"
NOON_SGT = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.timezone.utc)  # a Wednesday
NOON_BRT = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.timezone.utc)


def open_gate(tmp_path: Path, now: dt.datetime, ledger: Path | str) -> Gate:
    repo = Repo(tmp_path / "repo")
    for name in [
        "senders/kestrel-sg.yaml",
        "scopes/sg-members.yaml",
        "templates/clean/sg-members-sale.yaml",
        "senders/kestrel-br.yaml",
        "scopes/br-ofertas.yaml",
        "templates/clean/br-promocao.yaml",
    ]:
        repo.write(name, (EXAMPLES / name).read_text("utf-8"))
    return Gate.open(repo=repo.path, ledger=ledger, create=True, clock=lambda: now)


@pytest.mark.parametrize(
    "subject, scope, template, noon, reply",
    [
        (SINGAPORE_NUMBER, "sg-members", "sg-members-sale", NOON_SGT, "请不要再发短信给我"),
        (SINGAPORE_NUMBER, "sg-members", "sg-members-sale", NOON_SGT, "退订"),
        (BRAZIL_NUMBER, "br-ofertas", "br-promocao", NOON_BRT, "Chega!"),
        (BRAZIL_NUMBER, "br-ofertas", "br-promocao", NOON_BRT, "não quero mais"),
    ],
)
def test_an_opt_out_in_the_markets_language_stops_marketing(
    tmp_path, ledger_at, subject, scope, template, noon, reply
):
    gate = open_gate(tmp_path, noon - dt.timedelta(minutes=5), ledger_at)
    try:
        before = noon - dt.timedelta(days=1)
        gate.ledger.grant(subject=subject, channel="sms", scope=scope, source="form", at=before)
        assert gate.check(Send(to=subject, template=template, at=noon)).allowed
        result = gate.ledger.inbound(subject=subject, text=reply, channel="sms", at=noon)
        assert result.action == "opt_out"
        later = gate.check(Send(to=subject, template=template, at=noon + dt.timedelta(minutes=1)))
        assert later.outcome == "deny" and "consent.revoked" in later.codes
    finally:
        gate.close()


def test_russian_to_a_singapore_number_holds_marketing_for_a_person(tmp_path, ledger_at):
    gate = open_gate(tmp_path, NOON_SGT - dt.timedelta(minutes=5), ledger_at)
    try:
        before = NOON_SGT - dt.timedelta(days=1)
        gate.ledger.grant(
            subject=SINGAPORE_NUMBER, channel="sms", scope="sg-members", source="form", at=before
        )
        text = "Прекратите присылать мне сообщения"
        result = gate.ledger.inbound(
            subject=SINGAPORE_NUMBER, text=text, channel="sms", at=NOON_SGT
        )
        assert result.action == "review"
        later = Send(
            to=SINGAPORE_NUMBER, template="sg-members-sale", at=NOON_SGT + dt.timedelta(minutes=1)
        )
        assert not gate.check(later).allowed
    finally:
        gate.close()
