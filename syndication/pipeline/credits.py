"""Credit conventions as data: one table of line rules per kind of line, and the checks a value must pass.

A news desk reads credits in a few places of agency copy: the dateline that opens the lead (``DUBAI,
Feb 17 (Reuters) -``, ``YEREVAN, December 3. /ARKA/.``, ``Baku/01.12.26/Turan:``), bylines above or
below the story (``By Jane Doe``, ``(Reporting by …; Editing by …)``), photo credits under pictures
(``… Photo: contact.az``, ``(Photo by Resul Rehimov/Anadolu Agency)``, ``REUTERS/Name``) and credit
lines closing the story (``Source: APA``, ``— Trend News Agency``, ``This article was first published
by OC Media.``). Each table below lists regular expressions whose named groups say what they carry;
`syndication/pipeline/attribute.py` decides which lines each table is tried on. A partner adds rules of
its own through ``credit_patterns`` (same group names), validated at configuration load.

Group names: ``agency`` (originating agency), ``source`` (distributing source), ``place``/``region``
(dateline place), ``date``, ``names`` (bylines, split on "and", commas, …), ``roles`` (a wire trailer
``Reporting by …; Editing by …``), ``photo`` (photo credit) and ``caption``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from syndication.kernel.domain import Credit
from syndication.pipeline.policy import same_org

KINDS = ("agency", "source", "place", "date", "byline", "photo")
RULE_GROUPS = frozenset({"agency", "source", "place", "region", "date", "names", "roles", "photo", "caption"})
LINE_TABLES = ("dateline", "byline", "photo", "credit_line", "inline")


@dataclass(frozen=True, slots=True)
class LineRule:
    name: str
    pattern: re.Pattern[str]
    # Substrings one of which the line (lower-cased) must hold for the rule to be tried ("^…": must start
    # with): a cheap test that spares a regular expression most lines.
    hints: tuple[str, ...] = ()
    starts: tuple[str, ...] = field(init=False, default=())
    contains: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(h[1:] for h in self.hints if h.startswith("^")))
        object.__setattr__(self, "contains", tuple(h for h in self.hints if not h.startswith("^")))

    def may_match(self, low: str) -> bool:
        if not self.hints or (self.starts and low.startswith(self.starts)):
            return True
        for hint in self.contains:  # noqa: SIM110 (a loop costs half of any() over a generator here)
            if hint in low:
                return True
        return False


# ------------------------------------------------------------------------------------------ vocabulary

# Agencies and outlets whose names decide ambiguous layouts ("TBILISI, Interpressnews." has no date or
# brackets to say the last word is an agency). Matched case-insensitively on the whole value.
KNOWN_AGENCIES: tuple[str, ...] = (
    # wires
    "Reuters", "AP", "Associated Press", "The Associated Press", "AFP", "Agence France-Presse", "dpa",
    "Deutsche Presse-Agentur", "AA", "Anadolu", "Anadolu Agency", "Anadolu Ajansı", "Xinhua", "Синьхуа",
    "TASS", "ТАСС", "Interfax", "Интерфакс", "Interfax-Azerbaijan", "Интерфакс-Азербайджан", "RIA Novosti",
    "РИА Новости", "Sputnik", "Bloomberg", "UPI", "EFE", "EPA", "ANSA", "Kyodo", "Yonhap", "IRNA", "PTI",
    "Ukrinform", "Укринформ", "BelTA", "БелТА", "Anews", "DHA", "IHA", "Sputnik Azerbaijan",
    "Sputnik Armenia", "Sputnik Georgia", "Sputnik Kazakhstan",
    # South Caucasus
    "Turan", "Туран", "Turan news agency", "Turan Information Agency", "AZERTAC", "AZƏRTAC", "АЗЕРТАДЖ",
    "Azertag", "APA", "АПА", "Trend", "Тренд", "Trend News Agency", "Report", "Report.az", "Репорт",
    "Day.az", "Oxu.az", "Caliber.az", "Novosti-Azerbaijan", "Новости-Азербайджан", "Armenpress",
    "Арменпресс", "ԱՐՄԵՆՊՐԵՍ", "Արմենպրես", "ARKA", "АРКА", "news.am", "Arminfo", "АрмИнфо",
    "Mediamax", "Azatutyun", "Interpressnews", "IPN", "Интерпресньюс", "ინტერპრესნიუსი", "Agenda.ge",
    "Civil.ge", "Civil Georgia", "Georgia Today", "Netgazeti", "Tabula", "1TV", "GPB", "OC Media",
    "JAMnews", "JAM News", "commonspace.eu", "Caucasian Knot", "Кавказский узел", "Eurasianet",
    "Eurasianet.org", "RFE/RL", "Radio Free Europe/Radio Liberty", "Radio Azattyk",
    # Central Asia
    "Kazinform", "Казинформ", "Қазақпарат", "Kazakhstan Today", "KazTAG", "КазТАГ", "Tengrinews", "Vlast.kz",
    "24.kg", "24.kg news agency", "AKIpress", "Kabar", "Кабар", "Asia-Plus", "Khovar", "Ховар", "UzA",
    "Podrobno.uz", "Kun.uz", "Gazeta.uz", "Daryo", "Trend.az", "Interpressnews.ge", "news.az", "APA.az",
    "Azernews", "Turan.az", "Armenpress.am", "Kazinform.kz", "Times of Central Asia", "The Times of Central Asia",
)
# Words that make a name an organisation ("Caspian Wire", "Georgian Public Broadcaster", "пресс-служба").
ORG_WORDS = frozenset({
    "news", "agency", "agence", "press", "presse", "media", "information", "info", "wire", "wires", "service",
    "tv", "radio", "times", "post", "journal", "broadcaster", "broadcasting", "television", "network",
    "gazette", "daily", "weekly", "herald", "tribune", "telegraph", "channel", "newswire", "online",
    "агентство", "новости", "информ", "пресс-служба", "пресс-центр", "служба", "agentliyi", "agentlik",
    "xəbər", "xəbərlər", "ajansı", "ajans", "სააგენტო", "გაზეთი", "լրատվական", "агенттігі", "ministry",
    "министерство", "nazirliyi", "საინფორმაციო", "gazeti", "газета", "телеканал", "tv-channel",
    "office", "department", "archive", "archives", "handout", "pool", "state", "centre", "center", "bureau",
    "committee", "government", "administration", "company", "museum", "authority",
})
# Capitalised words that open a paragraph but name no place ("UPDATE – …", "EXCLUSIVE: …").
NOT_PLACES = frozenset({
    "update", "updated", "breaking", "exclusive", "watch", "video", "photos", "photo", "opinion",
    "analysis", "correction", "corrected", "urgent", "note", "editor's note", "flash", "alert", "live",
    "tl;dr", "faq", "important", "warning", "srochno", "срочно", "видео", "фото", "mühüm", "təcili",
    "interview", "comment", "commentary", "review", "explainer", "factbox", "timeline", "q&a", "poll",
    "quiz", "podcast", "the", "a", "an", "this", "that", "it", "he", "she", "they", "we", "i", "you",
    "and", "but", "or", "so", "in", "on", "of", "by", "for", "to", "at", "from", "with", "as", "if",
    "when", "while", "after", "before", "today", "yesterday", "tomorrow", "meanwhile", "however",
    "also", "then", "now", "here", "there", "step", "part", "chapter", "day", "summary", "abstract",
    "introduction", "conclusion", "background", "context", "source", "sources", "by the way",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "end", "ends", "more", "конец", "advt", "advertisement",
})
# Words that stand after a byline's names and are a role, not a name ("By Jane Doe, Staff Writer").
ROLE_WORDS = frozenset({
    "staff", "writer", "correspondent", "reporter", "editor", "contributor", "columnist", "special",
    "senior", "chief", "bureau", "our", "own", "correspondents", "reporters", "writers", "корреспондент",
    "müxbir", "photographer", "analyst", "journalist", "journalists", "contributing", "freelance",
})
# In a wire trailer "(Reporting by …; Writing by …; Editing by …)": the roles whose names are bylines.
TRAILER_BYLINE_ROLES = frozenset({
    "reporting", "additional reporting", "reported", "writing", "written", "story", "text",
    "compiled", "reporting and writing", "reporting and photography",
})
# Name particles written in lower case ("Rio de Janeiro", "Ali oğlu", "Ludwig van Beethoven").
PARTICLES = frozenset({
    "de", "da", "del", "der", "van", "von", "al", "el", "bin", "ibn", "la", "le", "du", "dos", "di",
    "oğlu", "qızı", "oglu", "qizi", "ogly", "kyzy", "uulu", "of", "the", "and", "for", "on", "upon",
    "ул", "ад", "to",
})
GENERIC_AGENCIES = frozenset({
    "agencies", "agency", "news agencies", "agency reports", "wire services", "wires", "agencies and staff",
    "staff", "our correspondents", "correspondents", "агентства", "информагентства", "agentliklər",
    "agences", "agencias", "media reports", "local media", "social media", "press reports", "internet",
    "интернет", "сми", "kivl", "kİv", "ki̇v",
})

MONTHS = (
    # English
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
    # Russian (genitive, nominative, abbreviations) and Kazakh
    "|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
    "|январь|февраль|март|апрель|май|июнь|июль|август|сентябрь|октябрь|ноябрь|декабрь"
    "|янв|фев|мар|апр|июн|июл|авг|сен|сент|окт|ноя|нояб|дек"
    "|қаңтар|ақпан|наурыз|сәуір|мамыр|маусым|шілде|тамыз|қыркүйек|қазан|қараша|желтоқсан"
    # Azerbaijani, Turkish
    "|yanvar|fevral|mart|aprel|iyun|iyul|avqust|sentyabr|oktyabr|noyabr|dekabr"
    "|ocak|şubat|nisan|mayıs|haziran|temmuz|ağustos|eylül|ekim|kasım|aralık"
    # Georgian (with and without the genitive -ს)
    "|იანვარი?ს?|თებერვალი?ს?|მარტი?ს?|აპრილი?ს?|მაისი?ს?|ივნისი?ს?|ივლისი?ს?|აგვისტო?ს?"
    "|სექტემბერი?ს?|ოქტომბერი?ს?|ნოემბერი?ს?|დეკემბერი?ს?"
    # Armenian (genitive, as datelines write them)
    "|հունվարի|փետրվարի|մարտի|ապրիլի|մայիսի|հունիսի|հուլիսի|օգոստոսի|սեպտեմբերի|հոկտեմբերի"
    "|նոյեմբերի|դեկտեմբերի"
)
WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"

# ------------------------------------------------------------------------------------------ fragments

_W = r"[^\W\d_][\w'’\-]*+\.?"  # a word of a place name ("St.", "Nur-Sultan", "Bakı")
_PLACE = rf"(?P<place>{_W}(?:[ ]{_W}){{0,3}}?)"
_REGION = rf"(?:,\s*(?P<region>{_W}(?:[ ]{_W}){{0,2}}?))?"
# The ~150 month names are tried one by one wherever a date may start (a digit, the first letter of any word
# of the lead, again at every retry of a rule that fails further on): their first letters, tested first, spare
# most of those tries, and once "November" is read it is not re-read as "Nov" (atomic, longest names first).
_MONTH_NAMES = sorted(MONTHS.split("|"), key=len, reverse=True)
_MONTH = rf"(?=[{''.join(sorted({m[0] for m in _MONTH_NAMES}))}])(?>{'|'.join(_MONTH_NAMES)})\.?"
_YEAR = r"(?:,?\s+\d{4}(?:\s*(?:г\.|il|y\.|წ\.|թ\.))?)?"
_DATE = (
    r"(?P<date>"
    rf"(?:(?:{WEEKDAYS}),?\s+)?"
    rf"(?:\d{{1,2}}(?:st|nd|rd|th|-?го|-?ci|-?cı|-?cu|-?cü)?\s*{_MONTH}|{_MONTH}\s*\d{{1,2}}(?:st|nd|rd|th)?){_YEAR}"
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{4}-\d{2}-\d{2}"
    rf"|(?:{WEEKDAYS})"
    r")"
)
_DASH = r"(?:--?|[–—])"
_AGENCY = r"(?P<agency>[^\s()/,:;][^()/:;]{0,45}?)"
# Put before an agency that a dot, colon, slash or dash closes. The lazy agency is otherwise retried at every
# length up to 45 characters (for every way the words before it split) on every lead whose first words
# close with no such mark: most leads. The first dot, colon, slash or dash from the agency's start lies
# within its 46 characters and the spaces after them, so this possessive scan (no retries) turns away no
# line the rule would read.
_AGENCY_CLOSED = r"(?=[^()/:;.\-–—]{0,46}+\s*[.:/\-–—])"
_SOURCE_WORDS = (
    r"sources?|via|источники?|джерело|mənbə|menbe|kaynak|quelle|fuente|fonte|წყარო|աղբյուր|дереккөз|derekkoz"
)
_WITH_WORDS = (
    r"with|and|citing|from|via|со ссылкой на|по данным|с|и|ilə|və|avec|citant|selon|d'après|mit|und|con|y|та|і"
    r"|და|և"
)
_PHOTO_WORDS = (
    r"photo(?:graph)?s?|pictures?|pic|images?|foto(?:ğraf)?s?|фото(?:графия)?|şəkil|рисунок|ფოტო|"
    r"լուսանկար(?:ը|ներ)?|сурет|crédit photo|bildquelle|bild|illustration"
)
_PHOTO_QUALIFIER = r"(?:(?:cover|main|featured|feature|top|lead|header|title|hero)\s+)?"
_CREDIT_WORD = (
    rf"(?:(?:{_PHOTO_QUALIFIER}(?:{_PHOTO_WORDS})(?:\s+(?:credits?|source))?|credits?|courtesy(?:\s+of)?)\b|©|\(c\))"
)
# What follows a credit word: a colon or dash ("Photo: AFP"), "by", or nothing after © / courtesy.
_CREDIT_SEP = r"(?:\s*[:\-–—՝|]\s*|\s+by\s+|(?<=©)\s*|(?<=\(c\))\s*|(?<=courtesy)\s+|(?<=of)\s+)"
_WIRE_PHOTO = (
    r"(?:REUTERS|Reuters|AFP|AP|EPA(?:-EFE)?|ANADOLU|Anadolu|AA|dpa|TASS|ТАСС|Xinhua|XINHUA|Sputnik|"
    r"RIA Novosti|РИА Новости|Getty Images|Shutterstock|iStock)"
)

# ------------------------------------------------------------------------------------------ tables


def _rules(
    table: Mapping[str, str], hints: Mapping[str, tuple[str, ...]] | None = None, flags: int = re.I
) -> tuple[LineRule, ...]:
    return tuple(
        LineRule(name, re.compile(pattern, flags), (hints or {}).get(name, ())) for name, pattern in table.items()
    )


# Tried at the start of the lead (the first lines of the story that are not bylines); the match is the
# dateline span. Tried in order; the first whose values pass the checks wins.
DATELINE_RULES = _rules({
    # Trend: "BAKU, Azerbaijan, Dec. 1. By Nigar Abbasova – Trend:"
    "byline-in-dateline": rf"^{_PLACE}{_REGION}[,.]\s*{_DATE}\s*[.,]?\s*by\s+(?P<names>[^–—:\-]{{3,80}}?)\s*{_DASH}\s*"
                          rf"{_AGENCY}\s*[:.]\s",
    # Reuters, AP, AFP, Xinhua, Anadolu, dpa, Turan: "DUBAI, Feb 17 (Reuters) -", "ANKARA (AA) -",
    # "MOSCOW. Dec 1 (Interfax) -", "BEIJING, Dec. 1 (Xinhua) --"
    "wire-parenthesis": rf"^{_PLACE}{_REGION}(?:\s*[,.]\s*{_DATE})?\s*\({_AGENCY}\)\s*[,.]?\s*(?:{_DASH}|[:.])\s",
    # TASS, ARKA, Kazinform: "YEREVAN, December 3. /ARKA/.", "МОСКВА, 1 декабря. /ТАСС/."
    "slashed-agency": rf"^{_PLACE}{_REGION}(?:\s*[,.]\s*{_DATE})?\s*[.,]?\s*/\s*{_AGENCY}\s*/\s*[.:]?\s*{_DASH}?\s",
    # Turan: "Baku/01.12.26/Turan:"
    "place-date-agency-slashes": rf"^{_PLACE}\s*/\s*{_DATE}\s*/\s*{_AGENCY}\s*[:.]\s*{_DASH}?\s*",
    # AZERTAC, Interpressnews, Armenpress, APA, Interfax/RIA in Russian: "Baku, 4 November, AZERTAC.",
    # "YEREVAN, DECEMBER 3, ARMENPRESS.", "МОСКВА, 1 дек - ИНТЕРФАКС.", "Bakı. 1 dekabr. APA."
    "date-then-agency": rf"^{_PLACE}{_REGION}\s*[,.]\s*{_DATE}\s*(?:[,.]|\s{_DASH})\s*{_AGENCY_CLOSED}{_AGENCY}"
                        rf"\s*(?:[.:/]|\s{_DASH})(?:\s|$)",
    # Kazinform: "ASTANA. KAZINFORM –", "TBILISI, Interpressnews." (the agency must be a known one)
    "place-then-agency": rf"^{_PLACE}\s*[,.]\s*{_AGENCY}\s*(?:[.:/]|\s{_DASH})(?:\s|$)",
    # 24.kg: "24.kg news agency, BISHKEK –" (known agency)
    "agency-then-place": rf"^{_AGENCY}\s*,\s*{_PLACE}\s*(?:[.:]|\s{_DASH})\s",
    # Agenda.ge: "Agenda.ge, 2 Dec 2026 –" (known agency)
    "agency-then-date": rf"^{_AGENCY}\s*,\s*{_DATE}\s*(?:[.:]|\s{_DASH})\s",
    # APA: "Baku. Ramil Mammadli – APA." (place, the reporter, the agency)
    "place-byline-agency": rf"^{_PLACE}\s*[.,]\s*(?P<names>[^–—\-.,:;()]{{3,60}}?)\s*{_DASH}\s*"
                           rf"{_AGENCY_CLOSED}{_AGENCY}\s*[.:]\s",
    # "BAKU, 4 February –", "Aktau, Kazakhstan, 25 November —", "YEREVAN, DECEMBER 3."
    "place-date": rf"^{_PLACE}{_REGION}\s*[,.]\s*{_DATE}\s*(?:{_DASH}|[.:](?=\s))\s*",
    # "BAKU —" (wire style capitals only)
    "place-only": rf"^{_PLACE}{_REGION}\s*{_DASH}\s",
}, hints={
    "byline-in-dateline": (" by ",), "wire-parenthesis": ("(",), "slashed-agency": ("/",),
    "place-date-agency-slashes": ("/",),
})

_NAMES = r"(?P<names>[^\d:;]{3,160}?)"
# Whole lines above or below the story.
BYLINE_RULES = _rules({
    "by": rf"^(?:by|written by|words by|reported by|report by|text by|words and pictures by|text and photos? by"
          r"|compiled by|interview by|story and photos? by)"
          rf"\s*:?\s+{_NAMES}(?:\s+for\s+{_AGENCY})?\s*\.?$",
    "story-by-for": rf"^story\s+by\s+{_NAMES}\s+for\s+{_AGENCY}\s*\.?$",
    "author-label": rf"^(?:автор(?:ы)?|текст|müəllif(?:lər)?|yazar|ავტორი|ავტორები|հեղինակ(?:ներ)?|авторы|автор)"
                    rf"\s*[:—–\-՝]\s*{_NAMES}\s*\.?$",
    "par-von-por": rf"^(?:par|von|por)\s+{_NAMES}\s*\.?$",
    # Reuters: "(Reporting by Nailia Bagirova; Editing by Mark Heinrich)"
    "wire-trailer": r"^[(\[]?\s*(?P<roles>(?:additional\s+)?(?:reporting|writing|written|compiled|reported|editing)"
                    r"\s+by\s+[^()\[\]]{3,300}?)\s*[)\]]?\s*\.?$",
    # AP: "Associated Press writer Jane Doe in Baku contributed to this report."
    "contributed": rf"^(?:(?:associated press|ap|afp|reuters)\s+(?:writers?|reporters?|correspondents?)\s+)?"
                   rf"{_NAMES}(?:\s+in\s+[^\d,.;]{{2,40}})?\s+contributed(?:\s+to\s+this\s+(?:report|story|article))?\s*\.?$",
}, hints={
    "by": ("by",), "story-by-for": ("story by",), "wire-trailer": (" by",), "contributed": ("contributed",),
    "par-von-por": ("par ", "von ", "por "),
})

_CAPTION = r"(?P<caption>.{2,300}?)"
# The credit in brackets closing a photo line: "(picture courtesy of contact.az)", "(photo: AFP)", "(© Reuters)".
_BRACKET_CREDIT = (
    rf"(?:(?:{_PHOTO_WORDS})\s*(?:credits?)?\s*(?::\s*)?)?"
    r"(?:(?:courtesy(?:\s+of)?|by|credit:?|source:?|©|\(c\)|предоставлено|любезно предоставлено)\s*)?"
)
_PHOTO_VALUE = r"(?P<photo>[^()\[\]]{2,120}?)"
# Short lines anywhere, captions, lines next to pictures.
PHOTO_RULES = _rules({
    # "photo: Oil workers at Sangachal (picture courtesy of contact.az)", "Photo credit: Seabed (Trend)"
    "label-caption-bracket": rf"^(?:{_PHOTO_WORDS})(?:\s+credits?)?\s*[:\-–—՝]\s*{_CAPTION}\s*[(\[]\s*"
                             rf"{_BRACKET_CREDIT}{_PHOTO_VALUE}\s*[)\]]\s*[.;]?$",
    # "Photo: Reuters", "Фото: пресс-служба Минобороны", "Photo by Jane Doe", "Photo credit: AFP", "© Reuters"
    "label": rf"^(?:{_CREDIT_WORD}){_CREDIT_SEP}(?:by\s+)?{_PHOTO_VALUE}\s*\.?$",
    # "(Photo by Resul Rehimov/Anadolu Agency)", "(AP Photo/Vahid Salemi)", "[Photo: AFP]"
    "bracketed": rf"^[(\[]\s*(?:(?P<wire>{_WIRE_PHOTO}(?:\s+photo)?\s*/\s*[^()\[\]]{{2,80}}?)"
                 rf"|{_CREDIT_WORD}{_CREDIT_SEP}(?:by\s+)?{_PHOTO_VALUE})\s*[)\]]\s*\.?$",
    # "REUTERS/Aziz Karimov", "AFP PHOTO / VANO SHLAMOV", "EPA-EFE/ZURAB KURTSIKIDZE"
    "wire-photo": rf"^(?P<photo>{_WIRE_PHOTO}(?:\s+PHOTO)?\s*/\s*[^/()\[\]]{{2,60}}?)\s*\.?$",
}, hints={"bracketed": ("(", "["), "wire-photo": ("/",)})
# The credit closing a caption: "Workers at the new terminal. Photo: contact.az",
# "Flooded street in Baku (Photo by Resul Rehimov/Anadolu Agency)", "Rally in Tbilisi. REUTERS/Name".
CAPTION_END_RULES = _rules({
    "caption-then-bracket": rf"^{_CAPTION}[\s.,;:]*[(\[]\s*"
                            rf"(?:(?P<wire>{_WIRE_PHOTO}(?:\s+photo)?\s*/\s*[^()\[\]]{{2,80}}?)"
                            rf"|{_CREDIT_WORD}{_CREDIT_SEP}(?:by\s+)?{_PHOTO_VALUE})\s*[)\]]\s*\.?$",
    "caption-then-wire": rf"^{_CAPTION}[.!?]\s+(?P<photo>{_WIRE_PHOTO}(?:\s+PHOTO)?\s*/\s*[^/()\[\]]{{2,60}}?)"
                         r"\s*\.?$",
    "caption-then-label": rf"^{_CAPTION}(?:[.!?;|/,]\s*|\s+[\-–—|/]\s*|\s+)(?:{_CREDIT_WORD}){_CREDIT_SEP}"
                          rf"(?:by\s+)?{_PHOTO_VALUE}\s*\.?$",
}, hints={"caption-then-bracket": ("(", "["), "caption-then-wire": ("/",)})

# Lines closing the story (read from the end while they match).
CREDIT_LINE_RULES = _rules({
    # "source: commonspace.eu with Turan news agency, Baku.", "Источник: ТАСС", "Mənbə: APA"
    "source": rf"^(?:{_SOURCE_WORDS})\s*[:\-–—՝]\s*(?P<source>.+?)(?:\s+(?:{_WITH_WORDS})\s+(?P<agency>.+?))?"
              r"(?:\s*,\s*(?P<place>[^,.;:()]{2,60}?))?\s*[.;]?$",
    # "via Kun.uz", "via: Report.az"
    "via": r"^via\s+(?P<source>[^\s,;:()][^,;:()]{1,60}?)\s*\.?$",
    # "This article was first published by OC Media.", "Originally published on Eurasianet."
    "first-published": r"^(?:this|the)?\s*(?:article|story|piece|report|post|material|interview|text|item|analysis|"
                       r"commentary|op-ed|feature)?\s*(?:was|is|has been)?\s*(?:first|originally|initially)\s+"
                       r"(?:published|appeared|posted|ran|carried)\s+(?:by|on|in|at|with)\s+(?:the\s+)?"
                       r"(?P<agency>[^()]{2,80}?)(?:\s+(?:website|site|portal))?"
                       r"(?:\s+on\s+.{1,40}?)?(?:\s+and\s+(?:is|was|has\s+been)\s+.{0,120}|\s*,\s*.{0,120})?\s*[.!]?$",
    "republished": r"^(?:this\s+(?:article|story)\s+is\s+)?(?:republished|reprinted|reproduced|shared)\s+"
                   r"(?:here\s+)?(?:with\s+(?:kind\s+)?permission\s+)?(?:from|of|by)\s+(?:the\s+)?"
                   r"(?P<agency>[^()]{2,80}?)(?:\s*,\s*.{0,80})?\s*[.!]?$",
    "first-published-ru": r"^(?:материал|статья|текст)?\s*(?:впервые|первоначально)\s+"
                          r"(?:опубликован[аоы]?|вышел|вышла|вышло)\s+"
                          r"(?:на\s+(?:сайте\s+)?|в\s+|изданием\s+)?(?P<agency>[^()]{2,80}?)\s*\.?$",
    "by-materials": r"^(?:по\s+материалам|по\s+данным|materialları\s+əsasında)\s*:?\s*(?P<agency>[^()]{2,80}?)\s*\.?$",
    # "— Trend News Agency", "-- Reuters", "/ARKA/", "(Turan)"
    "signature": rf"^(?:{_DASH}|/)\s*{_AGENCY}\s*/?\s*\.?$",
    "signature-bracket": r"^[(\[]\s*(?P<agency>[^()\[\]]{2,40}?)\s*[)\]]\s*\.?$",
    # "With AFP", "(With additional reporting by AFP and Reuters)", "Compiled with Reuters"
    "with-agencies": r"^[(\[]?\s*(?:—|-|–)?\s*(?:compiled\s+)?with\s+(?:additional\s+)?(?:reporting\s+(?:by|from)\s+|"
                     r"material\s+from\s+|input\s+from\s+)?(?P<agency>[^()\[\]]{2,100}?)\s*[)\]]?\s*\.?$",
}, hints={
    "first-published": ("publish", "appear", "posted", "ran ", "carried"),
    "republished": ("republish", "reprint", "reproduc", "shared"),
    "first-published-ru": ("впервые", "первоначально"), "by-materials": ("по материалам", "по данным", "əsasında"),
    "with-agencies": ("with",), "signature-bracket": ("^(", "^["), "via": ("^via",),
    "signature": ("^—", "^–", "^-", "^/"),
    "source": ("^source", "^via", "^источник", "^джерело", "^mənbə", "^menbe", "^kaynak", "^quelle", "^fuente",
               "^fonte", "^წყარო", "^աղբյուր", "^дереккөз", "^derekkoz"),
})

# Searched in the lead: ", Trend reports", "Report informs", "сообщает ТАСС", "APA xəbər verir".
INLINE_RULES = _rules({
    "reports": r"(?:^|[,.;]\s+|\s[–—]\s)(?P<agency>[^\s,.;][^,.;]{0,30}?)\s+(?:reports|reported|informs|writes|learned|"
               r"learnt)\b",
    "reports-ru": r"(?:сообщает|передает|передаёт|информирует|пишет)\s+"
                  r"(?P<agency>[^\s,.;][^,.;]{0,30}?)(?=[\s,.;]|$)",
    "reports-az": r"(?:^|[,.;]\s+)(?P<agency>[^\s,.;][^,.;]{0,30}?)(?:-(?:[ıiuü]n|n[ıiuü]n))?"
                  r"\s+(?:xəbər|məlumat)\s+verir",
})

TABLES: Mapping[str, tuple[LineRule, ...]] = {
    "dateline": DATELINE_RULES,
    "byline": BYLINE_RULES,
    "photo": PHOTO_RULES + CAPTION_END_RULES,
    "credit_line": CREDIT_LINE_RULES,
    "inline": INLINE_RULES,
}

# Quick tests (substrings of the lower-cased line, far cheaper than the rules) that a line may hold a
# photo credit, or the lead an agency's own words, before any rule of the table is tried.
PHOTO_HINTS = (
    "photo", "pic", "image", "foto", "фото", "şəkil", "рисун", "ფოტო", "լուսանկար", "сурет", "crédit", "bild",
    "illustr", "©", "(c)", "courtesy", "credit", "/",
)
INLINE_HINTS = ("report", "inform", "writes", "learn", "сообща", "переда", "информир", "пишет", "xəbər", "məlumat")


def photo_hint(text: str) -> bool:
    low = text.lower()
    for hint in PHOTO_HINTS:  # noqa: SIM110 (a loop costs half of any(): it runs on most lines of every body)
        if hint in low:
            return True
    return False


# ------------------------------------------------------------------------------------------ checks


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The known agencies (defaults plus a partner's own) as the checks use them."""

    agencies: frozenset[str]

    def known(self, value: str) -> bool:
        key = _org_key(value)
        return bool(key) and key in self.agencies


_QUOTES_AND_DOTS = re.compile(r"[\"'«»“”„.]")


@lru_cache(maxsize=4096)
def _org_key(value: str) -> str:
    return " ".join(_QUOTES_AND_DOTS.sub("", value).casefold().split())


@lru_cache(maxsize=64)
def vocabulary(extra: tuple[str, ...] = ()) -> Vocabulary:
    return Vocabulary(frozenset(_org_key(a) for a in (*KNOWN_AGENCIES, *extra)))


_DOMAIN = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.[a-z]{2,12}$", re.I)
_SENTENCE_PUNCT = re.compile(r"[!?\"“”«»]|\.\s|\s-\s|\d{3,}(?!\.kg)")


def capitalised(word: str) -> bool:
    """Starts with a capital (or a digit, or a letter of a caseless script such as Georgian)."""
    head = word.lstrip("\"'«“(")[:1]
    if not head:
        return False
    # Georgian Mkhedruli (U+10D0–U+10FF) is written without capitals (Unicode pairs it with Mtavruli).
    return head.isupper() or head.isdigit() or "\u10d0" <= head <= "\u10ff" or (
        head.isalpha() and head.lower() == head.upper())


def org_like(value: str, vocab: Vocabulary, *, strict: bool = False) -> bool:
    """An agency or outlet name: a known one, a domain, or (unless strict) a short capitalised name with an
    organisation word ("Caspian Wire", "Georgian Public Broadcaster") or in capitals ("ARKA")."""
    value = value.strip()
    if not value or value.casefold() in GENERIC_AGENCIES:
        return False
    if vocab.known(value) or _DOMAIN.match(value):
        return True
    words = value.split()
    if len(words) > 6 or _SENTENCE_PUNCT.search(value) or not capitalised(words[0]):
        return False
    stripped = re.sub(r"\s+(?:news\s+agency|information\s+agency|agency|news)$", "", value, flags=re.I)
    if stripped != value and vocab.known(stripped):
        return True
    if strict:
        return False
    if not all(capitalised(w) or w.casefold() in PARTICLES or w.casefold() in ORG_WORDS for w in words):
        return False
    if any(w.casefold().strip(".,") in ORG_WORDS for w in words):
        return True
    # "ARKA", "AKIpress", "ArmInfo": capitals, or a word with capitals inside.
    return len(words) <= 2 and all(
        (w.isupper() and len(w) >= 2) or sum(ch.isupper() for ch in w[1:]) >= 1 for w in words
    )


def source_like(value: str, vocab: Vocabulary) -> bool:
    """A "Source:" value: an organisation, or a short capitalised name ("Ministry of Energy of Azerbaijan")."""
    if org_like(value, vocab):
        return True
    words = value.split()
    return (
        0 < len(words) <= 6 and not _SENTENCE_PUNCT.search(value) and capitalised(words[0])
        and not words[0][:1].isdigit()
        and all(capitalised(w) or w.casefold() in PARTICLES for w in words)
    )


def _name_like(value: str, vocab: Vocabulary) -> bool:
    """A name in running text, possibly inflected ("Кавказского узла"): capitalised first word, short."""
    words = value.split()
    return source_like(value, vocab) or (
        0 < len(words) <= 4 and capitalised(words[0]) and not words[0][:1].isdigit()
        and not _SENTENCE_PUNCT.search(value) and not any(w.casefold() in _CAPTION_WORDS for w in words)
    )


def person_like(name: str) -> bool:
    """A person's name: 1–5 words, each capitalised (or a particle), no digits, not a month or weekday."""
    words = name.split()
    if not 1 <= len(words) <= 5 or any(ch.isdigit() for ch in name):
        return False
    if any(w.casefold() in NOT_PLACES or re.fullmatch(MONTHS, w.casefold().strip(".")) for w in words):
        return False
    return all(capitalised(w) or w.casefold() in PARTICLES for w in words) and capitalised(words[0])


def photo_credit_like(value: str, vocab: Vocabulary) -> bool:
    """A photo credit ("Reuters", "Resul Rehimov/Anadolu Agency", "contact.az", "пресс-служба Минобороны",
    "the port authority") rather than a caption ("Deputies voting in the chamber on Thursday")."""
    value = value.strip()
    if not value or len(value) > 120:
        return False
    if "/" in value or "©" in value:
        return all(p.strip() and len(p.split()) <= 6 for p in value.replace("©", "").split("/") if p.strip())
    if org_like(value, vocab) or person_like(value):
        return True
    words = value.split()
    low = value.casefold()
    if low.startswith(("пресс-служба", "press service", "the press service", "mətbuat xidməti", "archive",
                       "архив", "arxiv", "the ", "courtesy")) and len(words) <= 8:
        return not _SENTENCE_PUNCT.search(value)
    if len(words) <= 6 and capitalised(words[0]) and all(
            capitalised(w) or w.casefold() in PARTICLES or w.casefold() in ORG_WORDS for w in words):
        return True
    # "Tajik foreign ministry", "Turkmen state media": a few words ending in an organisation word, none of
    # them a preposition ("Protesters outside the ministry" is a caption).
    return (len(words) <= 5 and capitalised(words[0]) and words[-1].casefold() in ORG_WORDS
            and not any(w.casefold() in _CAPTION_WORDS for w in words))


_CAPTION_WORDS = frozenset({
    "in", "at", "on", "near", "outside", "inside", "during", "after", "before", "with", "from", "the", "a", "an",
    "of", "by", "into", "over", "under", "is", "are", "was", "were",
})


def place_like(place: str) -> bool:
    words = place.split()
    if not 0 < len(words) <= 4 or place.casefold() in NOT_PLACES:
        return False
    if any(w.casefold() in NOT_PLACES for w in words):
        return False
    return all(capitalised(w) or w.casefold() in PARTICLES for w in words)


def split_names(raw: str) -> list[str]:
    raw = re.sub(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "", raw)
    raw = re.sub(r"\(\s*\)|<\s*>", "", raw)
    raw = re.sub(r"\s*\(([^()]*)\)", r", \1", raw)
    parts = re.split(r"\s*(?:,|&|;|\||\band\b|\bи\b|\bvə\b|\bet\b|\bund\b|\by\b|\bდა\b|\bև\b)\s*", raw, flags=re.I)
    return [p.strip(" .") for p in parts if p.strip(" .")]


def normal_place(place: str) -> str:
    return place.title() if place.isupper() else place


def normal_name(name: str) -> str:
    return name.title() if name.isupper() and len(name) > 3 else name


def validate_patterns(table: str, patterns: Iterable[str]) -> list[str]:
    """A partner's extra rules for one table: each compiles and names only known groups (ValueError if not)."""
    if table not in LINE_TABLES:
        raise ValueError(f"unknown credit_patterns table {table!r} (known: {', '.join(LINE_TABLES)})")
    out: list[str] = []
    for pattern in patterns:
        try:
            compiled = re.compile(pattern, re.I)
        except re.error as exc:
            raise ValueError(f"credit_patterns.{table}: invalid pattern {pattern!r}: {exc}") from None
        groups = set(compiled.groupindex)
        unknown = sorted(groups - RULE_GROUPS)
        if unknown:
            raise ValueError(
                f"credit_patterns.{table}: pattern {pattern!r} has unknown group {unknown[0]!r} "
                f"(known: {', '.join(sorted(RULE_GROUPS))})"
            )
        if not groups:
            raise ValueError(f"credit_patterns.{table}: pattern {pattern!r} names no group (e.g. (?P<agency>…))")
        out.append(pattern)
    return out


@dataclass(frozen=True, slots=True)
class CreditRules:
    """The tables for one partner: the defaults plus its ``credit_patterns`` additions (tried first)."""

    tables: Mapping[str, tuple[LineRule, ...]]
    vocab: Vocabulary


@lru_cache(maxsize=256)
def credit_rules(extra: tuple[tuple[str, tuple[str, ...]], ...] = (), agencies: tuple[str, ...] = ()) -> CreditRules:
    if not extra:
        return CreditRules(TABLES, vocabulary(agencies))
    added = dict(extra)
    tables = {
        name: tuple(
            LineRule(f"partner-{i + 1}", re.compile(p, re.I)) for i, p in enumerate(added.get(name, ()))
        ) + rules
        for name, rules in TABLES.items()
    }
    return CreditRules(tables, vocabulary(agencies))


# ------------------------------------------------------------------------------------------ matching

_TRIM = " .;,:—–-/|"


def _span(m: re.Match[str], group: str, line: str) -> tuple[str, int, int] | None:
    if group not in m.re.groupindex:
        return None
    start, end = m.span(group)
    if start < 0 or end > len(line):
        return None
    raw = line[start:end]
    value = raw.strip(_TRIM)
    if raw.rstrip(_TRIM).endswith(("St", "Jr", "Inc", "Co", "Ltd")) and raw.rstrip(" ").endswith("."):
        value += "."
    if not value:
        return None
    start += raw.find(value)
    return value, start, start + len(value)


def _credit(kind: str, span: tuple[str, int, int], line: str, rule: str, caption: str | None = None) -> Credit:
    value, start, end = span
    return Credit(kind=kind, value=value, line=line, start=start, end=end, rule=rule, caption=caption)


def _find(line: str, value: str, after: int) -> tuple[str, int, int]:
    pos = line.find(value, after)
    if pos < 0:
        pos = max(after, 0)
    return value, pos, pos + len(value)


def _names(m: re.Match[str], line: str, rule: str, vocab: Vocabulary) -> list[Credit] | None:
    """Bylines (and agencies written among them: "By Jane Doe, Reuters") from the `names` group."""
    span = _span(m, "names", line)
    if span is None:
        return None
    raw, start, _ = span
    out: list[Credit] = []
    for part in split_names(raw):
        part = re.sub(r"\s+(?:in|from|в|из)\s+[^\W\d_].{0,40}$", "", part).strip()
        part = re.sub(r"^(?:our\s+)?(?:correspondents?|staff\s+writers?)\s+", "", part, flags=re.I)
        if not part:
            continue
        if vocab.known(part) or org_like(part, vocab, strict=True):
            out.append(_credit("agency", _find(line, part, start), line, rule))
        elif all(w.casefold().strip(".") in ROLE_WORDS for w in part.split()):
            continue
        elif person_like(part):
            out.append(_credit("byline", (normal_name(part), *_find(line, part, start)[1:]), line, rule))
        else:
            return None
    return out


def _trailer(m: re.Match[str], line: str, rule: str, vocab: Vocabulary) -> list[Credit] | None:
    """A wire trailer: "Reporting by A and B; Additional reporting by C; Editing by D"."""
    span = _span(m, "roles", line)
    if span is None:
        return None
    raw, start, _ = span
    out: list[Credit] = []
    # "Reporting by A; Editing by B" and "Reporting by A, editing by B"
    for segment in re.split(r"\s*;\s*|,\s*(?=(?:additional\s+)?(?:reporting|writing|editing|compiled|written)\s+by\b)",
                            raw, flags=re.I):
        seg = re.match(r"(?P<role>[^\W\d_][\w\s]{1,40}?)\s+by\s+(?P<names>.+)$", segment.strip(), re.I)
        if not seg:
            return None
        role = " ".join(seg.group("role").casefold().split())
        for part in split_names(seg.group("names")):
            part = re.sub(r"\s+in\s+[^\W\d_].{0,40}$", "", part).strip()
            if vocab.known(part) or org_like(part, vocab, strict=True):
                out.append(_credit("agency", _find(line, part, start), line, rule))
            elif not person_like(part):
                return None
            elif role in TRAILER_BYLINE_ROLES:
                out.append(_credit("byline", (normal_name(part), *_find(line, part, start)[1:]), line, rule))
    return out


def _agencies(
    span: tuple[str, int, int], line: str, rule: str, vocab: Vocabulary, *, strict: bool
) -> list[Credit] | None:
    """One or several agencies in a group ("AFP and Reuters"); None if any part is not an agency."""
    raw, start, _ = span
    out: list[Credit] = []
    for part in split_names(raw):
        if part.casefold() in GENERIC_AGENCIES:
            continue
        if not (org_like(part, vocab, strict=strict) or (not strict and _name_like(part, vocab))):
            return None
        out.append(_credit("agency", _find(line, part, start), line, rule))
    return out


# Dateline layouts where nothing but the name says the word is an agency: a known agency (or a domain) only.
_KNOWN_AGENCY_RULES = frozenset({"place-then-agency", "agency-then-place", "agency-then-date", "place-byline-agency"})


def match_dateline(line: str, rules: CreditRules) -> list[Credit] | None:
    """The dateline opening a lead: place (with region), date and agency, each with its span."""
    # A dateline opens the line: the rules never need more than its start (and stay cheap on long leads).
    text = line[:200] + " "
    vocab = rules.vocab
    low = text.lower()
    for rule in rules.tables["dateline"]:
        m = rule.pattern.match(text) if rule.may_match(low) else None
        if not m:
            continue
        name = f"dateline:{rule.name}"
        # The story opens after the dateline with a sentence: "Apple, 2 June – the day the phones came" is prose.
        # (A dateline naming a known agency is evidence enough.)
        rest = line[m.end():].lstrip(" \"'«“(")[:1]
        if (rest and rest.islower() and not "\u10d0" <= rest <= "\u10ff"
                and ("agency" not in m.re.groupindex or m.group("agency") is None
                     or not vocab.known(m.group("agency").strip(_TRIM)))):
            continue
        # The agency first: most rules that match a lead by chance fail on it.
        agency = _span(m, "agency", line)
        if agency is not None and rule.name in _KNOWN_AGENCY_RULES and not (
                vocab.known(agency[0]) or _DOMAIN.match(agency[0])):
            continue
        place = _span(m, "place", line)
        if place is not None and not place_like(place[0]):
            continue
        region = _span(m, "region", line)
        if region is not None and not place_like(region[0]):
            continue
        if rule.name == "place-only" and (
            place is None or not place[0].replace(" ", "").replace("-", "").isupper() or len(place[0]) < 3
            # "CROSSWORD - February 27, 2026" is a heading: a dateline opens a story of some length.
            or len(line[m.end():].split()) < 8
        ):
            continue
        if agency is not None:
            strict = rule.name in _KNOWN_AGENCY_RULES
            ok = (vocab.known(agency[0]) or _DOMAIN.match(agency[0])) if strict else org_like(agency[0], vocab)
            if not ok and rule.name == "wire-parenthesis" and place is not None and place[0].isupper():
                ok = len(agency[0].split()) <= 3 and all(capitalised(w) for w in agency[0].split())
            if not ok:
                continue
        out: list[Credit] = []
        if "names" in m.re.groupindex and m.group("names") is not None:
            names = _names(m, line, name, vocab)
            if not names:
                continue
            out.extend(names)
        if place is not None:
            value, start, end = place
            if region is not None:
                value, end = f"{normal_place(value)}, {normal_place(region[0])}", region[2]
            out.insert(0, Credit("place", normal_place(value), line, start, end, name))
        if (date := _span(m, "date", line)) is not None:
            out.append(_credit("date", date, line, name))
        if agency is not None:
            out.append(_credit("agency", agency, line, name))
        if out:
            return out
    return None


def match_byline(line: str, rules: CreditRules) -> list[Credit] | None:
    vocab = rules.vocab
    low = line.lower()
    for rule in rules.tables["byline"]:
        m = rule.pattern.match(line) if rule.may_match(low) else None
        if not m:
            continue
        name = f"byline:{rule.name}"
        if "roles" in m.re.groupindex and m.group("roles") is not None:
            out = _trailer(m, line, name, vocab)
        else:
            out = _names(m, line, name, vocab) if "names" in m.re.groupindex else []
            if out is not None and (agency := _span(m, "agency", line)) is not None:
                if not org_like(agency[0], vocab):
                    continue
                out.append(_credit("agency", agency, line, name))
        if out is not None and (out or rule.name == "wire-trailer"):
            return out
    return None


PHOTO_START = re.compile(rf"^{_PHOTO_QUALIFIER}(?:{_PHOTO_WORDS})\b", re.I)
_LABEL_ONLY = re.compile(rf"^(?:{_CREDIT_WORD})$", re.I)


def match_photo(line: str, rules: CreditRules, *, caption: bool) -> list[Credit] | None:
    """Photo credits of a line. `caption`: the line is a caption (figcaption, text by a picture), where a
    credit may close the caption text. A label with no credit ("Photo: Deputies voting …") gives a credit
    of kind "caption" with an empty value."""
    vocab = rules.vocab
    # "Photo taken on Nov. 30 shows … (Xinhua/Name)": a line that opens with the word is a caption.
    caption = caption or bool(PHOTO_START.match(line))
    low = line.lower()
    for rule in rules.tables["photo"]:
        is_caption_end = rule.name.startswith("caption-")
        if is_caption_end and not caption:
            continue
        m = rule.pattern.match(line) if rule.may_match(low) else None
        if not m:
            continue
        name = f"photo:{rule.name}"
        value = _span(m, "photo", line) or _span(m, "wire", line)
        cap = _span(m, "caption", line)
        if value is None:
            continue
        caption_text = cap[0] if cap else None
        if caption_text and (_LABEL_ONLY.match(caption_text.strip(_TRIM)) or not caption_text.strip(_TRIM)):
            caption_text = None
        if photo_credit_like(value[0], vocab):
            return [_credit("photo", value, line, name, caption_text)]
        if rule.name == "label" and not is_caption_end:
            # "Photo: Deputies voting in the chamber": a caption with no credit.
            return [Credit("caption", "", line, value[1], value[2], name, value[0])]
    return None


def match_credit_line(line: str, rules: CreditRules) -> list[Credit] | None:
    """A line closing the story: source, first-published, signature, "With AFP"."""
    vocab = rules.vocab
    low = line.lower()
    for rule in rules.tables["credit_line"]:
        m = rule.pattern.match(line) if rule.may_match(low) else None
        if not m:
            continue
        name = f"credit_line:{rule.name}"
        if "source" in m.re.groupindex:
            out = _source_line(m, line, name, vocab)
        else:
            span = _span(m, "agency", line)
            if span is None:
                continue
            value = span[0]
            if re.match(r"https?://", value):
                host = re.sub(r"^https?://(?:www\.)?", "", value).split("/")[0]
                span = _find(line, host, span[1])
            strict = rule.name in ("signature", "signature-bracket", "with-agencies")
            out = _agencies(span, line, name, vocab, strict=strict) if rule.name in (
                "with-agencies", "by-materials") else (
                [_credit("agency", span, line, name)]
                if (vocab.known(span[0]) or org_like(span[0], vocab, strict=False) if strict
                    else source_like(span[0], vocab)) and span[0].casefold() not in NOT_PLACES
                else None)
            if rule.name == "signature-bracket" and out and not vocab.known(span[0]):
                out = None
        if out is not None:
            return out
    return None


def _source_line(m: re.Match[str], line: str, rule: str, vocab: Vocabulary) -> list[Credit] | None:
    dist, agency, place = _span(m, "source", line), _span(m, "agency", line), _span(m, "place", line)
    if dist and re.match(r"https?://", dist[0]):  # "Source: https://trend.az/…": the site
        host = re.sub(r"^https?://(?:www\.)?", "", dist[0]).split("/")[0]
        dist, agency, place = _find(line, host, dist[1]), None, None
    if agency and place is None and "," in agency[0]:
        head, _, tail = agency[0].rpartition(",")
        agency, place = _find(line, head.strip(), agency[1]), _find(line, tail.strip(), agency[1])
    if dist and agency is None and place is None and "," in dist[0]:
        head, _, tail = dist[0].rpartition(",")
        dist, place = _find(line, head.strip(), dist[1]), _find(line, tail.strip(), dist[1])
    if agency and agency[0].casefold() in GENERIC_AGENCIES:
        agency = None
    if dist and dist[0].casefold() in GENERIC_AGENCIES:
        dist = None
    if place and not place_like(place[0]):
        place = None
    if dist and not source_like(dist[0], vocab):
        return None
    if agency and not source_like(agency[0], vocab):
        return None
    if not dist and not agency:
        return None if not m.group(0) or "agenc" not in line.casefold() else []
    out: list[Credit] = []
    if dist:
        out.append(_credit("source", dist, line, rule))
    if agency:
        out.append(_credit("agency", agency, line, rule))
    if place:
        out.append(_credit("place", place, line, rule))
    return out


def match_inline(line: str, rules: CreditRules) -> list[Credit]:
    """Agencies named in the lead the way agencies name themselves: ", Trend reports", "сообщает ТАСС"."""
    out: list[Credit] = []
    low = line.lower()
    if not any(h in low for h in INLINE_HINTS) and len(rules.tables["inline"]) == len(INLINE_RULES):
        return out
    for rule in rules.tables["inline"]:
        for m in rule.pattern.finditer(line):
            span = _span(m, "agency", line)
            if span and (rules.vocab.known(span[0]) or rule.name.startswith("partner-")):
                out.append(_credit("agency", span, line, f"inline:{rule.name}"))
    return out


def not_carried(
    credits: Iterable[Credit], *, authors: Iterable[str], agencies: Iterable[str | None]
) -> tuple[Credit, ...]:
    """The credits the partner's own metadata does not already carry: a byline naming an entry author, an
    agency (or distributing source) that is the partner itself or the agency its metadata names."""
    people = {" ".join(a.casefold().split()) for a in authors if a}
    orgs = [a for a in agencies if a]
    out: list[Credit] = []
    for c in credits:
        if c.kind == "byline" and " ".join(c.value.casefold().split()) in people:
            continue
        if c.kind in ("agency", "source") and any(same_org(c.value, o) for o in orgs):
            continue
        out.append(c)
    return tuple(out)
