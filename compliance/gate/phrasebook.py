"""How people ask, in the languages of the shipped markets, for messages to stop: the data that
phrases.py reads. Written as people spell it (accents, apostrophes, Devanagari); phrases.py reads
each entry through the same normalisation as a reply (textnorm.words), so LÖSCH* matches
"löschen" and "LÖSCHEN" (LOESCH* is written out for keyboards without umlauts) and 短信
matches however it is spaced.

An entry is words; a word ending in * may go on ("LÖSCH*": löschen, löscht, lösche), and … stands
for up to three other words ("HÖR* … AUF": "hör auf", "hören Sie bitte auf").

Sources: 47 CFR 64.1200(a)(10) and FCC 24-24 (US: revocation by any reasonable means; the
statement of Commissioner Gomez: a consumer may reply in the language of the message, in
Spanish to a Spanish one); CTIA Messaging Principles 5.1.3 (natural-language requests are
honoured); GDPR Art. 21(2)-(3) and 7(3) (an objection in any form); CASL s.11(1), Spam Act 2003
s.18(8), Spam Control Act 2007 Second Schedule para 2 (Singapore: an unsubscribe request by
text, no fixed wording), LGPD Art. 8 §5. The wording is our reading of those standards in each
language; languages of no shipped market (Vietnamese, Russian, Arabic) are read too, but only
ever as doubtful: a person decides (markets/fallback/keywords.yaml lists their words for review).

Our reading too, with no source naming them: a dismissal aimed at the sender ("leave me alone",
"fuck off", "go away" as the whole reply, "lass mich in Ruhe", "laissez-moi tranquille") and a
request beside a denial of consent ("I never signed up for this, stop") are clear, since 47 CFR
64.1200(a)(10) asks whether a reasonable person would understand the words as a request to
revoke; "not interested", "enough" and a denial alone ("who gave you my number") may refuse one
offer rather than the messages, so they are doubtful."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """How one language asks for messages to stop.

    clear: wording that is an opt-out wherever it stands. patterns: the same as regular
    expressions over the normalised, folded words (upper case, no accents or apostrophes).
    requests: asking that something stop or go (STOP, LÖSCH*, ARRÊT*); objects: what the
    request is aimed at (messages, a list, a number, sending). A request with an object at most
    three words away is an opt-out; when not `sure` (a language no shipped market's people
    write) it is only doubtful. doubtful: expressions (as patterns) that might be an opt-out
    wherever they stand ("not interested", "go away" inside other text). denials: saying that
    consent was never given ("I never signed up for this"): doubtful alone, an opt-out with any
    of the language's requests ("I did not sign up for this, stop")."""

    name: str
    clear: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    doubtful: tuple[str, ...] = ()
    denials: tuple[str, ...] = ()
    sure: bool = True


_MEDIA = (
    r"(TEXTS?|MESSAGES?|MSGS?|SMS|EMAILS?|MAILS?|NEWSLETTERS?|ALERTS?|PROMOS?|ADS|SPAM"
    r"|PROMOTIONS?|OFFERS|DEALS|MARKETING|NOTIFICATIONS)"
)

ENGLISH = Language(
    "English",
    patterns=(
        r"\b(STOP|QUIT|END|CEASE) (IT|THIS|THESE|TEXTING|MESSAGING|SENDING|CONTACTING|CALLING"
        r"|EMAILING|SPAMMING|(THE |ALL |YOUR |THESE )?" + _MEDIA + r")\b",
        r"^NO MORE$|\bNO MORE " + _MEDIA + r"\b|\b(DONT|DO NOT) SEND (ME )?(ANY ?MORE|MORE|ANY)\b",
        # "don't send me these messages", "never send me your offers again"
        r"\b(DONT|DO NOT|NEVER) SEND (ME |US )?(THESE |THOSE |THIS |YOUR |THE |SUCH )?"
        + _MEDIA
        + r"\b",
        # "I don't want these anymore", "I no longer want them": the messages, said as "these"
        # ("I don't want it" may decline one offer: not here)
        r"\b(DONT|DO NOT|NO LONGER) WANT (THESE|THEM|THOSE|ANY OF (THESE|THEM|THOSE))"
        r"( ANY ?MORE)?$",
        r"\b(DONT|DO NOT|NEVER) (TEXT|MESSAGE|CONTACT|EMAIL|SMS) ME\b",
        r"\b(DONT|DO NOT) WANT (ANY |THESE |THIS |YOUR |THE |MORE |ANY MORE )*" + _MEDIA + r"\b",
        r"\b(REMOVE|DELETE|UNSUBSCRIBE|UNENROLL) ME\b|\b(TAKE|GET) ME (OFF|OUT OF)\b",
        r"\bOPT ME OUT\b|\bLEAVE ME (THE (FUCK|F|FK|HELL) )?ALONE\b",
        # "I want to opt out", "I'd like to unsubscribe", not "I don't want to opt out"
        r"(?<!DONT )(?<!NOT )(?<!NEVER )\b(WANT|WANNA|NEED|WISH|WOULD LIKE|ID LIKE) TO (OPT OUT"
        r"|OPTOUT|UNSUBSCRIBE|UNSUB|UNENROLL|BE REMOVED|BE UNSUBSCRIBED|BE TAKEN OFF)\b",
        r"(?<!DONT )(?<!NOT )\b(WANT|NEED|WOULD LIKE|ID LIKE) (TO|IT TO|THIS TO|THESE TO|THEM TO"
        r"|THAT TO|IT ALL TO) (STOP|END)$",
        r"^(I )?(JUST )?WANT OUT( OF (THIS|THESE|IT|HERE|THE LIST|YOUR LIST|THIS LIST))?$",
        # a dismissal aimed at the sender: "fuck off" (f*** off, f**k off), "piss off"; "go
        # away" only as the whole reply ("we go away on Friday" is doubtful)
        r"\b(FUCK|FUCKING|FUC|FCK|FUK|FK|F|F CK|FU K|EFF|PISS|BUGGER|SOD|FRICK|FRIG) OFF\b"
        r"|\bFUCKOFF\b",
        r"^(JUST )?(GO AWAY|GET LOST|BACK OFF|BUZZ OFF|SHOO)$",
        r"\b(PUT|ADD|PLACE) (ME|MY NUMBER) (ON|TO|IN) (THE |YOUR )?(DND|DNC|DO NOT (CALL|CONTACT"
        r"|DISTURB|TEXT))\b",
        r"\bCANCEL (MY |THE |THIS |ALL |THESE )?(SUBSCRIPTION|" + _MEDIA + r")\b",
        r"\bWRONG NUMBER\b",  # the person texted is not the one who consented
        r"\bLOSE (MY|THIS) NUMBER\b",
    ),
    # END is left out: "the end of the message" is not a request
    requests=("STOP", "QUIT", "CEASE", "REMOVE", "DELETE", "ERASE", "UNSUBSCRIBE", "UNSUB")
    + ("OPT OUT", "BLOCK", "CANCEL", "NO LONGER WANT", "DON'T WANT", "DO NOT WANT", "ENOUGH"),
    # plural nouns only: "message me" and "text me" are how people ask to be contacted
    objects=("TEXTS", "MESSAGES", "MSGS", "SMS", "EMAILS", "NEWSLETTERS", "ALERTS", "PROMOS")
    + ("PROMOTIONS", "ADS", "ADVERTS", "ADVERTISING", "SPAM", "NOTIFICATIONS", "MARKETING")
    + ("MY NUMBER", "THIS NUMBER", "MY CELL*", "MY PHONE*", "MY MOBILE*", "YOUR LIST")
    + ("THE LIST", "MAILING LIST", "TEXTING", "MESSAGING", "SPAMMING", "CONTACTING")
    + ("SUBSCRIPTION",),
    # THANK YOU is read past (keywords), so YOU may be missing: "who gave (you) my number"
    doubtful=(
        r"\bNOT INTERESTED\b|\bNO INTEREST\b|\bUNINTERESTED\b",
        r"^(GO AWAY|GET LOST|BACK OFF|BUZZ OFF)\b|\b(GO AWAY|GET LOST|BACK OFF|BUZZ OFF)$",
        r"\bWANT OUT\b",
        r"^(THATS |THAT IS |IVE HAD |I HAVE HAD )?ENOUGH( ALREADY| IS ENOUGH)?$",
        r"^(FUCK|SCREW|F) (YOU|U|OFF)?$|^(FUCK|SCREW)$",
        r"^(THIS IS |ITS |IT IS )?(SPAM|JUNK)$",
    ),
    denials=(
        r"\b(DID NOT|DIDNT|NEVER) (SIGN|SIGNED) UP\b",
        r"\b(DID NOT|DIDNT|NEVER) (SUBSCRIBE|SUBSCRIBED|OPT IN|OPTED IN|CONSENT|CONSENTED|AGREE"
        r"|AGREED|ASK|ASKED) (TO|FOR) (THIS|THESE|THAT|IT|THEM|ANY|YOUR|THE)\b",
        r"\b(DID NOT|DIDNT|NEVER) (GIVE|GAVE) (YOU |U )?(MY )?(NUMBER|PERMISSION|CONSENT)\b",
        r"\bWHO GAVE (YOU |U )?MY (NUMBER|EMAIL|DETAILS|INFO)\b",
        r"\b(HOW|WHERE) DID (YOU |U )?GET (MY|THIS) (NUMBER|EMAIL|DETAILS|INFO)\b",
    ),
)
_DE_MEDIA = r"(SMS|NACHRICHTEN?|MAILS|E ?MAILS|NEWSLETTER|WERBUNG|WERBE\S*|ANGEBOTE|MITTEILUNGEN)"
GERMAN = Language(
    "German",
    patterns=(
        r"\bKEINE (WERBUNG|WERBE ?SMS|WERBE ?MAILS)\b",
        r"\bKEINE (WEITERE[NS]? (\S+ )?" + _DE_MEDIA + r"|" + _DE_MEDIA + r" MEHR)\b",
        r"^KEINE " + _DE_MEDIA + r"$",
        r"\bNICHT MEHR (\S+ ){0,3}(SCHREIBEN|SENDEN|ANSCHREIBEN|KONTAKTIEREN|ZUSCHICKEN"
        r"|SCHICKEN|ZUSENDEN|ANRUFEN|BELASTIGEN)\b",
        r"\b(SCHICK|SEND|SCHREIB)\S* (\S+ ){0,3}(NICHTS|KEINE \S+) MEHR\b",
        # hört auf, mir zu schreiben
        r"\bAUF (MIR |MICH )?(ZU SCHREIBEN|ZU SENDEN|ANZUSCHREIBEN)\b",
        r"\b(MICH|NUMMER|MEINE NUMMER) (ABMELDEN|AUSTRAGEN|LOSCHEN|LOESCHEN|ENTFERNEN|STREICHEN)\b",
        r"\bMICH IN RUHE\b|\bWIDERSPR(UCH|ECHE)\b|\bABMELDUNG\b",  # Widerspruch: GDPR Art. 21
        # "Schluss damit!" (stop it), "Verpiss dich"; "ich will das nicht mehr"
        r"\bSCHLUSS DAMIT\b|^(IST )?SCHLUSS$|\bVERPISS (DICH|EUCH)\b",
        r"\b(WILL|MOCHTE|MOECHTE|BRAUCHE) (DAS|DIES|SOWAS|SO WAS|DAS ALLES|DAS HIER) NICHT MEHR\b",
    ),
    requests=("AUSTRAGEN", "TRAG* … AUS", "ABMELD*", "MELD* … AB", "ABBESTELL*", "BESTELL* … AB")
    + ("LÖSCH*", "LOESCH*", "ENTFERN*", "STREICHEN", "STREICHT", "AUFHÖREN", "AUFHOEREN")
    + ("HÖR* … AUF", "HOER* … AUF", "STOPP*", "UNTERLASS*", "KÜNDIG*", "KUENDIG*", "WIDERRUF*")
    + ("NEHM* … AUS", "NIMM* … AUS", "NEHM* … RAUS", "NIMM* … RAUS", "SCHLUSS MIT"),
    objects=("NACHRICHT*", "SMS", "WERBUNG", "WERBE*", "NEWSLETTER", "MAILS", "E-MAIL*")
    + ("NUMMER", "HANDYNUMMER", "TELEFONNUMMER", "MOBILNUMMER", "LISTE", "VERTEILER")
    + ("ANGEBOTE", "MITTEILUNGEN", "MICH", "DAMIT", "SCHICKEN", "ZU SCHICKEN", "ZUSCHICKEN")
    + ("SENDEN", "ZU SENDEN", "ZUSENDEN", "SCHREIBEN", "ZU SCHREIBEN", "ANZUSCHREIBEN")
    + ("KONTAKTIEREN", "ZU KONTAKTIEREN", "BELÄSTIGEN", "ZU BELÄSTIGEN", "ABO", "ABONNEMENT"),
    # "Ich will das nicht": a refusal, of the offer or of the messages
    doubtful=(
        r"\b(WILL|MOCHTE|MOECHTE|BRAUCHE) (DAS|DIES|SOWAS|SO WAS|DAS ALLES|DAS HIER) NICHT\b",
        r"\bKEIN INTERESSE\b|\bNICHT INTERESSIERT\b",
    ),
    denials=(r"\bNIE (ANGEMELDET|EINGEWILLIGT|ZUGESTIMMT|BESTELLT|ABONNIERT)\b",),
)
FRENCH = Language(
    "French",
    patterns=(
        r"\bNE PLUS (ME |M)?(ENVOYER|CONTACTER|ECRIRE|RECEVOIR|DEMARCHER)\b",
        r"\bNE (ME |M)?(ENVOYEZ|ENVOIE|ENVOYER|ECRIVEZ|CONTACTEZ|SOLLICITEZ) PLUS\b",
        r"\bNE VEUX PLUS (RECEVOIR|ETRE CONTACTE|DE )",
        r"\bPLUS DE (SMS|MESSAGES?|PUBS?|PUBLICITES?|MAILS?)\b",
        r"\b(DESABONNER|DESABONNEZ|DESINSCRIRE|DESINSCRIVEZ|DESINSCRIPTION|DESABONNEMENT)\b",
        r"\b(ARRETE[SZR]?) (DE|LES|VOS|CES|MES|TOUT|LENVOI|DENVOYER)\b|^ARRETE[RZ]?$",
        r"\b(RETIREZ|SUPPRIMEZ|ENLEVEZ) (MOI|MON NUMERO)\b",
        r"\bLAISSE[ZR]? MOI (TRANQUILLE|EN PAIX)\b|\b(FOUTE[ZS]|FOUS|FICHE[ZS]) MOI LA PAIX\b",
    ),
    # imperatives and infinitives: "j'ai supprimé le message" asks nothing
    requests=("ARRÊT*", "STOPPE*", "CESSE*", "DÉSABONN*", "DÉSINSCRI*", "SUPPRIMEZ", "SUPPRIMER")
    + ("RETIREZ", "RETIRER", "ENLEVEZ", "ENLEVER", "EFFACEZ", "EFFACER", "NE VEUX PLUS")
    + ("NE VOULONS PLUS", "ÇA SUFFIT", "SUFFIT"),
    objects=("MESSAGE*", "SMS", "TEXTO*", "MAILS", "E-MAIL*", "COURRIEL*", "PUB", "PUBS")
    + ("PUBLICITÉ*", "NEWSLETTER*", "NOTIFICATION*", "PROMO*", "OFFRES", "NUMÉRO", "LISTE")
    + ("FICHIER", "MOI", "M'ENVOYER", "ENVOYER", "D'ENVOYER", "L'ENVOI", "ENVOIS", "M'ÉCRIRE")
    + ("ME CONTACTER", "DE ME CONTACTER", "ME DÉMARCHER", "ME SOLLICITER", "ABONNEMENT"),
    doubtful=(r"\bPAS INTERESSEE?S?\b|\bM ?INTERESSE PAS\b|\bAUCUN INTERET\b",),
    denials=(r"\bJAMAIS (INSCRITE?|ABONNEE?|DONNE MON (NUMERO|ACCORD|CONSENTEMENT))\b",),
)
SPANISH = Language(
    "Spanish",
    patterns=(
        r"^NO MAS$|\bNO MAS (MENSAJES|TEXTOS|SMS|CORREOS)\b",
        r"\bNO (ME )?(ENVIEN|MANDEN|ENVIES|MANDES|ESCRIBAN) MAS\b",
        r"\bDEJEN? DE (ENVIAR|MANDAR|ESCRIBIR)\b|\bDARME DE BAJA\b|\bDARSE DE BAJA\b",
        r"\b(DAR|DEN|DENME|DAME|DEME|DOY|ME DOY) DE BAJA\b",
        r"\b(QUIERO|PIDO|SOLICITO|DESEO) (LA|MI|DARME DE) BAJA\b",
        r"\bDEJ(A|EN|ENME|AME|ADME) EN PAZ\b",
    ),
    # imperatives and infinitives: "borré el mensaje" (I deleted it) asks nothing
    requests=("DEJ* DE", "PARA DE", "PAREN DE", "PARAR", "DETENER", "DETENGAN", "CANCELA")
    + ("CANCELEN", "CANCELAR", "BORRA", "BORREN", "BORRAR", "BÓRRENME", "BÓRRAME", "ELIMINA")
    + ("ELIMINEN", "ELIMINAR", "ELIMÍNENME", "ELIMÍNAME", "QUÍTENME", "QUÍTAME", "QUITAR")
    + ("QUITEN", "SÁCAME", "SÁQUENME", "SACAR", "DESUSCRIB*", "DESINSCRIB*", "NO QUIERO")
    + ("NO ME ENVÍEN", "NO ME ENVÍES", "NO ME MANDEN", "NO ME MANDES", "NO ME ESCRIBAN")
    + ("NO ME ESCRIBAS", "NO ENVÍEN", "NO MANDEN", "BASTA", "BASTA DE", "NO MÁS"),
    objects=("MENSAJE*", "SMS", "TEXTOS", "CORREO*", "EMAIL*", "PUBLICIDAD", "PROMOCION*")
    + ("OFERTAS", "ANUNCIOS", "NOTIFICACION*", "NÚMERO", "LISTA", "ENVIAR*", "MANDAR*")
    + ("ESCRIBIR*", "CONTACTAR*", "RECIBIR", "NADA", "SUSCRIPCIÓN"),
    doubtful=(r"\bNO (ME )?INTERESA\b|\bNO ESTOY INTERESAD[OA]\b",),
    denials=(r"\bNUNCA (ME )?(SUSCRIBI|INSCRIBI|REGISTRE|DI MI (NUMERO|CONSENTIMIENTO))\b",),
)
PORTUGUESE = Language(
    "Portuguese",
    patterns=(
        r"\bNAO QUERO (MAIS )?RECEBER\b|\bNAO QUERO MAIS (MENSAGE(M|NS)|SMS|EMAILS?)\b",
        r"\bNAO (ME )?(MANDE|MANDEM|ENVIE|ENVIEM|MANDA) MAIS\b",
        r"\b(PARE|PAREM|PARA) DE (ME )?(MANDAR|ENVIAR|MANDAREM|ENVIAREM|MANDA)\b",
        r"\bME (TIRE|TIREM|REMOVA|REMOVAM|EXCLUA|EXCLUAM|DESCADASTRE|DESCADASTREM)\b",
        r"\b(DESCADASTRAR|DESCADASTRE|DESCADASTRO|DESINSCREVER)\b",
        r"\bCHEGA DE (MENSAGE(M|NS)|SMS)\b",
        r"\bME DEIX(A|E|EM) EM PAZ\b|\bDEIX(A|E|EM) ME EM PAZ\b",
    ),
    # imperatives and infinitives: "excluí a mensagem" (I deleted it) asks nothing
    requests=("PARE", "PAREM", "PARA DE", "PARAR", "CHEGA DE", "CANCELA", "CANCELE", "CANCELEM")
    + ("CANCELAR", "DESCADASTR*", "DESINSCREV*", "REMOVA", "REMOVAM", "REMOVER", "ME REMOVE")
    + ("TIRE", "TIREM", "ME TIRA", "EXCLUA", "EXCLUAM", "EXCLUIR", "APAGUE*", "APAGAR")
    + ("NÃO QUERO MAIS", "NÃO QUERO", "NÃO ME MANDE", "NÃO ME MANDEM", "NÃO ME MANDA")
    + ("NÃO ME ENVIE", "NÃO ME ENVIEM", "NÃO MANDE", "NÃO MANDEM", "NÃO ENVIE", "NÃO ENVIEM")
    + ("SAIR DA", "SAIR DO"),
    objects=("MENSAGEM", "MENSAGENS", "MSG*", "SMS", "E-MAIL*", "EMAIL*", "PROPAGANDA*")
    + ("PROMOÇÃO", "PROMOÇÕES", "OFERTAS", "ANÚNCIO*", "NOTIFICAÇ*", "NÚMERO", "LISTA")
    + ("CONTATOS", "MANDAR*", "ENVIAR*", "RECEBER", "NADA", "INSCRIÇÃO", "ASSINATURA"),
    doubtful=(r"\bNAO (TENHO|TEMOS) INTERESSE\b|\bNAO ME INTERESSA\b|\bSEM INTERESSE\b",),
    denials=(r"\bNUNCA (ME )?(CADASTREI|INSCREVI|ASSINEI|AUTORIZEI)\b",),
)
HINDI = Language(
    "Hindi",
    requests=("बंद करो", "बंद करें", "बंद करे", "बंद कीजिए", "बंद करिए", "बंद कर दो", "बंद कर दें")
    + ("बन्द करो", "बन्द करें", "रोको", "रोकें", "रोक दो", "रोक दें", "रोकिए", "मत भेजो")
    + ("मत भेजें", "मत भेजिए", "ना भेजें", "न भेजें", "ना भेजो", "हटाओ", "हटाएं", "हटा दो")
    + ("हटाइए", "BAND KARO", "BAND KARE", "BAND KAREN", "BAND KARDO", "BAND KAR DO")
    + ("BANDH KARO", "BANDH KARE", "MAT BHEJO", "MAT BHEJE", "MAT BHEJEN", "MAT BHEJNA")
    + ("NA BHEJO", "NA BHEJE", "BAND KAREIN", "BAND KARIYE", "BAND KIJIYE", "BAND KAR DIJIYE")
    # "(I) don't want (it)": alone a refusal, of an offer or of the messages; with them an opt-out
    + ("नहीं चाहिए", "नही चाहिए", "NAHI CHAHIYE", "NAHIN CHAHIYE", "NHI CHAHIYE", "NAI CHAHIYE")
    + ("NAHI CHAHIE", "NAHIN CHAHIE"),
    objects=("मैसेज", "मेसेज", "संदेश", "एसएमएस", "SMS", "MESSAGE*", "MSG*", "विज्ञापन", "नंबर")
    + ("NUMBER",),
    doubtful=(r"\b(NAHI|NAHIN|NHI|NAI|NAHEE) (CHAHIYE|CHAHIE|CHAIYE|CHAHYE)\b",),
)
CHINESE = Language(
    "Chinese",
    # 不要 alone is "no", 不要发货 "don't ship": it counts before a message noun only
    clear=("不要再发", "不要再發", "别再发", "別再發", "勿再发", "勿再發", "不要短信", "不要簡訊")
    + ("不要信息", "不要广告", "不要廣告", "不要推送", "别发短信", "別發簡訊")
    + ("我要退订", "我想退订", "我要退訂", "我想退訂", "我要取消订阅", "我想取消订阅")
    + ("帮我退订", "幫我退訂"),
    # 别发 alone ("别发了": 了 is read past) but not 别发货 (don't ship)
    patterns=(r"(^| )(别|別|不 要) (发|發)$",),
    # 请 (please) is read past as politeness (keywords), so 请勿 is written 勿
    requests=("退订", "退訂", "取消", "停止", "不要再", "别再", "別再", "勿", "不再"),
    objects=("短信", "簡訊", "简讯", "信息", "訊息", "讯息", "消息", "广告", "廣告", "推送", "推广")
    + ("推廣", "营销", "營銷", "订阅", "訂閱", "发送", "發送"),
)
TAMIL = Language(
    "Tamil",
    requests=("நிறுத்து*", "நிறுத்தவும்", "அனுப்ப வேண்டாம்", "அனுப்பாதே", "அனுப்பாதீர்கள்"),
    objects=("செய்தி*", "குறுஞ்செய்தி*", "SMS", "விளம்பர*", "எண்"),
)
MALAY = Language(
    "Malay",
    requests=("BERHENTI", "HENTIKAN", "BATAL*", "JANGAN HANTAR", "JANGAN KIRIM", "TAK NAK")
    + ("TIDAK MAHU", "BUANG", "PADAM"),
    objects=("MESEJ", "SMS", "IKLAN", "PROMOSI", "NOMBOR", "LANGGANAN", "HANTAR", "KIRIM"),
)
# no shipped market writes Vietnamese; HỦY (cancel) is also a name, Huy, and DỪNG LẠI reads
# like DÙNG LẠI (use again) once accents go, so a request counts only as the whole reply
VIETNAMESE = Language(
    "Vietnamese",
    requests=("HỦY", "HUỶ", "HỦY ĐĂNG KÝ", "DỪNG", "DỪNG LẠI", "NGỪNG", "NGỪNG GỬI", "ĐỪNG GỬI")
    + ("KHÔNG NHẬN", "TỪ CHỐI"),
    objects=("TIN NHẮN", "QUẢNG CÁO", "SMS", "KHUYẾN MÃI"),
    sure=False,
)
RUSSIAN = Language(
    "Russian",
    requests=("ХВАТИТ", "ПРЕКРАТИ*", "ОТПИШИ*", "ОТПИСА*", "ОТПИСК*", "УДАЛИ*", "НЕ ПРИСЫЛА*")
    + ("НЕ ОТПРАВЛЯ*", "НЕ ПИШИТЕ", "БОЛЬШЕ НЕ"),
    objects=("СООБЩЕНИ*", "СМС", "SMS", "РЕКЛАМ*", "РАССЫЛК*", "НОМЕР", "МЕНЯ", "ПРИСЫЛАТЬ")
    + ("ПИСАТЬ", "ОТПРАВЛЯТЬ"),
    sure=False,
)
ARABIC = Language(
    "Arabic",
    requests=("توقف", "أوقف", "أوقفوا", "إيقاف", "إلغاء", "الغاء", "لا ترسل", "لا ترسلوا", "احذف"),
    objects=("الرسائل", "رسائل", "رسالة", "الإعلانات", "اعلانات", "رقمي", "الاشتراك"),
    sure=False,
)

LANGUAGES = (ENGLISH, GERMAN, FRENCH, SPANISH, PORTUGUESE, HINDI, CHINESE, TAMIL, MALAY)
LANGUAGES += (VIETNAMESE, RUSSIAN, ARABIC)

# words that may stand beside a request and leave it a request alone ("Löschen Sie",
# "retirez-moi"): pronouns
SPARE = ("SIE", "MICH", "MIR", "UNS", "DU", "IHR", "ME", "MOI", "NOUS", "VOUS", "TU", "YO")
SPARE += ("EU", "MI", "NOS", "AQUI", "DAQUI", "DE AQUI", "I", "US", "ALL", "TOUT", "ALLES")
SPARE += ("MUJHE", "MUJHKO", "HUME", "HAMEIN", "मुझे", "हमें", "ĐI", "NHÉ", "GIÙM", "GIÚP", "DÙM")
# a request after one of these is negated ("nicht löschen", "don't cancel"), or asked about
# ("wie kann ich mich abmelden", "how do I unsubscribe from these texts"): doubtful
NEGATORS = ("NICHT", "NIE", "NOT", "DONT", "NEVER", "NE", "NO", "NÃO", "NUNCA", "JANGAN")
QUESTIONS = ("WIE", "WARUM", "WIESO", "WESHALB", "WANN", "HOW", "WHY", "WHEN", "WHERE")
QUESTIONS += ("COMMENT", "POURQUOI", "QUAND", "CUÁNDO", "CUANDO", "DÓNDE", "DONDE", "QUANDO")
QUESTIONS += ("ONDE",)
