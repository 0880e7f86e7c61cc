"""Wording a reasonable person reads as an opt-out, beyond the keywords: "please stop texting
me", "remove me from your list", "bitte keine SMS mehr", "ne plus m'envoyer", "não quero mais
receber". Where the market says so (keywords.reasonable_opt_out) such a reply is an opt-out;
elsewhere it goes to review.

Sources: 47 CFR 64.1200(a)(10) and FCC 24-24 (US: revocation by any reasonable means, "in
any language", the examples "stop texting me", "no more", "leave me alone"); CTIA Messaging
Principles 5.1.3 (natural-language opt-out requests are honoured); GDPR Art. 21(2)-(3) and
7(3) (an objection in any form; withdrawing as easy as consenting); CASL s.11(1) and Spam Act
2003 s.18(8) ("a message to similar effect"); LGPD Art. 8 §5 (revocation by a facilitated
procedure). The phrases are our reading of those standards in the languages of the shipped
markets (English, German, French, Portuguese) and Spanish (FCC 24-24 names "no más"); they are
matched in every market, since a person may write in any of them.

Patterns are written over the normalised words (textnorm.words): upper case, no accents, no
apostrophes (DONT, MENVOYER), one space between words."""

from __future__ import annotations

import re

from compliance.gate.textnorm import fold

_MEDIA = r"(TEXTS?|MESSAGES?|MSGS?|SMS|EMAILS?|MAILS?|NEWSLETTERS?|ALERTS?|PROMOS?|ADS|SPAM)"

ENGLISH = [
    r"\b(STOP|QUIT|END|CEASE) (IT|THIS|THESE|TEXTING|MESSAGING|SENDING|CONTACTING|CALLING"
    r"|EMAILING|SPAMMING|(THE |ALL |YOUR |THESE )?" + _MEDIA + r")\b",
    r"^NO MORE$|\bNO MORE " + _MEDIA + r"\b|\b(DONT|DO NOT) SEND (ME )?(ANY ?MORE|MORE|ANY)\b",
    r"\b(DONT|DO NOT|NEVER) (TEXT|MESSAGE|CONTACT|EMAIL|SMS) ME\b",
    r"\b(DONT|DO NOT) WANT (ANY |THESE |THIS |YOUR |THE |MORE |ANY MORE )*" + _MEDIA + r"\b",
    r"\b(REMOVE|DELETE|UNSUBSCRIBE|UNENROLL) ME\b|\b(TAKE|GET) ME (OFF|OUT OF)\b",
    r"\bOPT ME OUT\b|\bLEAVE ME ALONE\b",
    r"\bCANCEL (MY |THE |THIS |ALL |THESE )?(SUBSCRIPTION|" + _MEDIA + r")\b",
    r"\bWRONG NUMBER\b",  # the person texted is not the one who consented
]
GERMAN = [
    r"\bKEINE (WERBUNG|WERBE ?SMS|WERBE ?MAILS)\b",
    r"\bKEINE (SMS|NACHRICHTEN|MAILS|E ?MAILS|NEWSLETTER|WERBUNG) MEHR\b",
    r"\bNICHT MEHR (SCHREIBEN|SENDEN|ANSCHREIBEN|KONTAKTIEREN|ZUSCHICKEN)\b",
    r"\bAUF (MIR |MICH )?(ZU SCHREIBEN|ZU SENDEN|ANZUSCHREIBEN)\b",  # hört auf, mir zu schreiben
    r"\b(MICH|NUMMER|MEINE NUMMER) (ABMELDEN|AUSTRAGEN|LOSCHEN|LOESCHEN|ENTFERNEN|STREICHEN)\b",
    r"\bMICH IN RUHE\b|\bWIDERSPR(UCH|ECHE)\b|\bABMELDUNG\b",  # Widerspruch: GDPR Art. 21
]
FRENCH = [
    r"\bNE PLUS (ME |M)?(ENVOYER|CONTACTER|ECRIRE|RECEVOIR|DEMARCHER)\b",
    r"\bNE (ME |M)?(ENVOYEZ|ENVOIE|ENVOYER|ECRIVEZ|CONTACTEZ|SOLLICITEZ) PLUS\b",
    r"\bNE VEUX PLUS (RECEVOIR|ETRE CONTACTE|DE )",
    r"\bPLUS DE (SMS|MESSAGES?|PUBS?|PUBLICITES?|MAILS?)\b",
    r"\b(DESABONNER|DESABONNEZ|DESINSCRIRE|DESINSCRIVEZ|DESINSCRIPTION|DESABONNEMENT)\b",
    r"\b(ARRETEZ|ARRETER) (DE|LES|VOS|CES|MES|TOUT|LENVOI)\b|^ARRETE[RZ]?$",
    r"\b(RETIREZ|SUPPRIMEZ|ENLEVEZ) (MOI|MON NUMERO)\b|\bLAISSEZ MOI TRANQUILLE\b",
]
PORTUGUESE = [
    r"\bNAO QUERO (MAIS )?RECEBER\b|\bNAO QUERO MAIS (MENSAGE(M|NS)|SMS|EMAILS?)\b",
    r"\bNAO (ME )?(MANDE|MANDEM|ENVIE|ENVIEM|MANDA) MAIS\b",
    r"\b(PARE|PAREM|PARA) DE (ME )?(MANDAR|ENVIAR|MANDAREM|ENVIAREM|MANDA)\b",
    r"\bME (TIRE|TIREM|REMOVA|REMOVAM|EXCLUA|EXCLUAM|DESCADASTRE|DESCADASTREM)\b",
    r"\b(DESCADASTRAR|DESCADASTRE|DESCADASTRO|DESINSCREVER)\b",
    r"\bCHEGA DE (MENSAGE(M|NS)|SMS)\b",
]
SPANISH = [
    r"^NO MAS$|\bNO MAS (MENSAJES|TEXTOS|SMS|CORREOS)\b",
    r"\bNO (ME )?(ENVIEN|MANDEN|ENVIES|MANDES|ESCRIBAN) MAS\b",
    r"\bDEJEN? DE (ENVIAR|MANDAR|ESCRIBIR)\b|\bDARME DE BAJA\b|\bDARSE DE BAJA\b",
]

_ALL = re.compile(
    "|".join(f"(?:{fold(p)})" for p in ENGLISH + GERMAN + FRENCH + PORTUGUESE + SPANISH)
)


def reads_as_opt_out(folded: str) -> bool:
    """Whether the normalised, folded words (textnorm) hold such a phrase anywhere."""
    return _ALL.search(folded) is not None
