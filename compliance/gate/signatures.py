"""What mail and phone software adds around a person's reply: the earlier message it quotes and
the line that introduces it ("On Mon, Acme wrote:", "-----Original Message-----"), a signature
below "-- " (RFC 3676 4.3), a sign-off ("Thanks,\\nJane") and lines such as "Sent from my
iPhone" or "Get Outlook for Android". "STOP" with any of these is still a clear STOP.

keywords.py reads a reply twice, whole and as `own` gives it, and keeps the stronger reading:
taking lines away can turn a review into an opt-out, never hide one, so the patterns below may
be generous."""

from __future__ import annotations

import re

_SIGNED_LINES = 6  # lines a sign-off may close: a name, a title, a company, a number, a link
_SIGNED_WIDTH = 60  # characters in each

# "On Mon, 3 Jun 2024 at 10:00, Acme <news@acme.com> wrote:", as Gmail, Apple Mail, Outlook and
# Thunderbird write it in English, French, German, Spanish, Portuguese, Italian and Dutch
_OPENS_ATTRIBUTION = re.compile(r"(?:on|le|am|el|em|il|op)\s", re.I)
_ATTRIBUTION = re.compile(
    r"(?:on|le|am|el|em|il|op)\s.*\b(?:wrote|a écrit|schrieb|escribió|escreveu|ha scritto"
    r"|schreef)\b.*:",
    re.I,
)
_EARLIER = re.compile(
    r"-{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|weitergeleitete "
    r"nachricht|message d'origine|message transféré|mensaje original|mensaje reenviado"
    r"|mensagem original|mensagem encaminhada)\s*-{2,}|_{10,}|begin forwarded message:",
    re.I,
)
_HEADER_FROM = re.compile(r"(?:from|von|de|da|van):\s.*", re.I)
_HEADER_NEXT = re.compile(
    r"(?:sent|date|to|gesendet|datum|an|envoyé|à|enviado|fecha|para):\s", re.I
)
# what a phone or mail app appends: "Sent from my iPhone", "Envoyé de mon iPhone", "Von meinem
# iPhone gesendet", "Enviado desde mi Galaxy", "Get Outlook for Android"
_SENT_FROM = re.compile(
    r"(?:sent|envoyé|envoye|enviado|gesendet|inviato|verzonden)\s+(?:from|via|with|using|on|de"
    r"|depuis|desde|do|von|mit|da|vanaf|met)\b.{0,60}"
    r"|von meinem\b.{0,60}\bgesendet\.?"
    r"|(?:get|obtenir|obtener|obter o|holen sie sich) outlook (?:for|pour|para|für) (?:ios|android)"
    r"\.?",
    re.I,
)
_SIGN_OFF = re.compile(
    r"(?:thanks|thank you|thanks again|many thanks|thx|regards|best|best regards|kind regards"
    r"|warm regards|cheers|sincerely|yours|yours truly|respectfully|take care|mit freundlichen "
    r"gr(?:ü|ue|u)(?:ß|ss)en|freundliche gr(?:ü|ue)(?:ß|ss)e|viele gr(?:ü|ue)(?:ß|ss)e|beste "
    r"gr(?:ü|ue)(?:ß|ss)e|liebe gr(?:ü|ue)(?:ß|ss)e|lg|mfg|gru(?:ß|ss)|cordialement"
    r"|bien cordialement|bien à vous|salutations|merci|saludos|un saludo|saludos cordiales"
    r"|atentamente|atenciosamente|abraços|abs|obrigad[oa])[,.!]*",
    re.I,
)
_DASHED_NAME = re.compile(r"[-–—~]\s*[^\W\d_][\w.' -]{0,40}")  # "STOP\n- Jane"


def own(text: str) -> str:
    """The person's own words: `text` without what software added, or `text` itself where
    nothing was added or nothing else is left."""
    lines = text.splitlines()
    kept = _before_signature(_before_earlier(lines))
    kept = [line for line in kept if not _added(line)]
    kept = _before_sign_off(kept)
    if kept == lines or not "".join(kept).strip():
        return text
    return "\n".join(kept).strip()


def _added(line: str) -> bool:
    """A quoted line ("> Reply STOP to opt out") or a line an app appends."""
    stripped = line.strip()
    return stripped.startswith(">") or bool(_SENT_FROM.fullmatch(stripped))


def _before_earlier(lines: list[str]) -> list[str]:
    """The lines above the earlier message: its attribution line (or two, when wrapped), a
    separator, or an Outlook header ("From: …" then "Sent: …")."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _EARLIER.fullmatch(stripped):
            return lines[:i]
        if _ATTRIBUTION.fullmatch(stripped):
            return lines[:i]
        if i and _ATTRIBUTION.fullmatch(f"{lines[i - 1].strip()} {stripped}"):
            return lines[: i - 1] if _OPENS_ATTRIBUTION.match(lines[i - 1].strip()) else lines[:i]
        if _HEADER_FROM.fullmatch(stripped) and any(
            _HEADER_NEXT.match(n.strip()) for n in lines[i + 1 : i + 3]
        ):
            return lines[:i]
    return lines


def _before_signature(lines: list[str]) -> list[str]:
    """The lines above the signature separator: "-- " (clients often drop the space)."""
    return next((lines[:i] for i, line in enumerate(lines) if line.rstrip() == "--"), lines)


def _before_sign_off(lines: list[str]) -> list[str]:
    """The lines above a sign-off that closes the reply ("Thanks,", "Best regards,", then at
    most a few short lines: a name, a company, a number) or a dashed name ("- Jane")."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if len(lines) > 1 and _DASHED_NAME.fullmatch(lines[-1].strip()):
        return lines[:-1]
    for i in range(len(lines) - 1, 0, -1):
        after = [line.strip() for line in lines[i + 1 :] if line.strip()]
        if len(after) > _SIGNED_LINES or any(len(a) > _SIGNED_WIDTH for a in after):
            break
        if _SIGN_OFF.fullmatch(lines[i].strip()):
            return lines[:i]
    return lines
