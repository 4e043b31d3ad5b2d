"""Text-level extraction: normalisation, the reply's stance (does it abstain?) and the one answer it claims."""


import re
import unicodedata

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_CITATION = re.compile(r"[ \t]*\[(?:c\d+(?:\s*,\s*c?\d+)*)\]", re.IGNORECASE)
_MARKDOWN = re.compile(r"[*_#>]+")


def fold(text: str) -> str:
    """Curly quotes and dashes made plain, accents removed ("Côte d’Ivoire" -> "Cote d'Ivoire")."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_QUOTES))
    return "".join(c for c in text if not unicodedata.combining(c))


_DOTTED = re.compile(r"\b[A-Za-z](?:\.[A-Za-z])+\b\.?")


def normalize(text: str) -> str:
    """SQuAD normalisation plus accent and quote folding: lower case, no punctuation, no articles; dotted
    abbreviations are joined first ("U.S.A." -> "usa", so it is not read as "u s" plus the article "a")."""
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), fold(text))
    text = re.sub(r"[^\w\s]", " ", text.lower().replace("'", ""))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _clean(text: str) -> str:
    return _MARKDOWN.sub("", _CITATION.sub("", fold(text))).strip()


# ---------------------------------------------------------------- stance: does the reply abstain?

_ABSTAIN = re.compile(
    r"\b(?:i\s+(?:do\s*not|dont|don't|cannot|can't|cant|am\s+unable\s+to|am\s+not\s+able\s+to|was\s+unable\s+to|"
    r"could\s*not|couldn't)\s+(?:know|say|tell|answer|determine|find|provide|confirm|be\s+sure|verify|recall|"
    r"identify|access|give)"
    r"|i'?m\s+(?:not\s+(?:sure|certain|aware)|unable\s+to|unsure)|i\s+am\s+(?:not\s+(?:sure|certain|aware)|unsure)"
    r"|not\s+(?:sure|certain)\b|no\s+idea|i\s+have\s+no\s+(?:idea|information|data|knowledge)"
    r"|(?:is|are|remains?)\s+(?:unknown|unclear|not\s+known)|^\W*(?:unknown|unclear|n\s*/\s*a|na|none\s+known|"
    r"no\s+answer|not\s+known)\W*$"
    r"|(?:there\s+is|there's|i\s+have|i\s+found|with)\s+no\s+(?:\w+\s+){0,2}(?:information|data|records?|"
    r"details|answer|mention|evidence)"
    r"|no\s+(?:reliable\s+|available\s+|specific\s+|such\s+)?(?:information|data)\b"
    r"|not\s+enough\s+(?:information|data|context)|insufficient\s+(?:information|data|context)"
    r"|(?:cannot|can't|can\s+not|could\s+not)\s+be\s+(?:determined|answered|found|known|confirmed)"
    r"|(?:unable|not\s+able)\s+to\s+(?:answer|determine|find|say|tell|provide)"
    r"|(?:is|are|was|were)\s+not\s+(?:publicly\s+|officially\s+|well\s+)?(?:stated|mentioned|given|provided|specified|"
    r"available|included|listed|contained|found|known|documented|recorded|defined|designated|tracked)"
    r"|(?:does|do)\s+not\s+(?:say|mention|contain|state|provide|specify|include|give|list)"
    r"|doesn't\s+(?:say|mention|contain|state|provide|specify|include|give|list)"
    r"|not\s+(?:stated|mentioned|specified)\s+in|beyond\s+my\s+knowledge|no\s+way\s+to\s+(?:know|tell)"
    r"|i\s+(?:do\s*not|don't|dont)\s+have\s+(?:\w+\s+){0,2}(?:information|data|knowledge|access|details|answer)"
    r"|(?:not\s+possible|impossible)\s+to\s+(?:determine|say|know|answer|tell)|(?:nobody|no\s+one)\s+knows"
    r"|i\s+(?:cannot|can't|cant)\s+help\s+with"
    # the judge's phrasings, merged here so there is one definition of declining
    r"|no\s+clue|(?:the\s+)?(?:faintest|slightest|foggiest)\s+idea|^\W*(?:unsure|not\s+sure|no\s+idea)\b"
    r"|(?:not|\w+n't|unable)\s+(?:[\w']+\s+){0,3}?(?:able\s+to|possible\s+(?:for\s+me\s+)?to|can|could)\s+(?:really\s+)?"
    r"(?:work\s+out|determine|say|tell|know|answer|figure\s+out|confirm)\b"
    r"|(?:can't|cannot|can\s+not|couldn't|could\s+not)\s+(?:really\s+)?(?:say|tell|determine|answer|work\s+out)\b"
    r"|nothing\s+(?:in|about|on)\b|there(?:\s+is|'s)\s+nothing\b"
    r"|(?:does|do|did)\s*(?:not|n't)\s+(?:name|cover|tell|indicate|record|reveal|report|discuss|address|mention|say)"
    r"|(?:passage|text|context|document|source|article|it|sources?)\s+(?:gives|contains|provides|offers|includes|lists"
    r"|mentions|says|states|shows|has)\s+no(?:thing)?\b|(?:is|are|was|were|isn't|aren't|wasn't)\s+not\s+(?:addressed|"
    r"covered|discussed|present)|(?:isn't|aren't|wasn't)\s+(?:stated|mentioned|given|provided|specified|available|listed"
    r"|included|known|recorded)|\bunknown\b|\bunclear\b|\bn/a\b|no\s+(?:mention|details?|record|reference|indication)\b"
    r"|unanswerable|insufficient\s+(?:information|data|context)|not\s+sufficient\s+(?:information|data)"
    r"|(?:beyond|outside)\s+(?:the\s+scope|my\s+knowledge|what\s+the)|(?:can't|cannot)\s+help)",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"^\W*(?:sorry|apologies|my\s+apologies|i'?m\s+sorry|i\s+apologi[sz]e|unfortunately|however|but|as\s+an\s+ai(?:\s+language\s+model)?|"
    r"i\s+hope\s+this\s+helps|thank\s+you|please\s+(?:check|consult|refer|verify|note)|"
    r"you\s+(?:may|might|could|can|should)\s+(?:want\s+to\s+)?(?:check|consult|look|refer|search|verify)|"
    r"(?:for\s+)?more\s+information|i\s+recommend|it\s+is\s+best\s+to\s+(?:check|consult)|sadly|regrettably|"
    r"i'?m\s+afraid|honestly|hmm|sure|certainly|of\s+course|okay|ok|great\s+question|based\s+on|according\s+to|"
    r"to\s+my\s+knowledge|as\s+far\s+as\s+i\s+know)\b[^\n]*$|^\W*$",
    re.IGNORECASE,
)
_LEAD_PHRASE = re.compile(
    r"^\W*(?:(?:based\s+on|according\s+to)\s+|(?:from|in|given)\s+(?:the|my|this)\s+)[^,:]{0,40}[,:]\s*"
    r"|^\W*(?:to\s+my\s+knowledge|as\s+far\s+as\s+i\s+know|as\s+of\s+[^,:]{0,30}|sure|certainly|of\s+course|"
    r"okay|ok|well|so|yes)\s*[,:!]\s*",
    re.IGNORECASE,
)
"""Lead-ins that frame a clause without asserting or declining ("Based on the context, …", "Sure! …")."""
_CLAUSE = re.compile(r"(?<=[.!?])(?<!\b[A-Za-z]\.)\s+(?-i:(?![a-z]))|\n+|;\s*|,?\s+\bbut\b\s+|,\s*(?:however|although|though)\b,?\s*", re.IGNORECASE)


def _clauses(text: str) -> list[str]:
    clauses = (_LEAD_PHRASE.sub("", c.strip()) for c in _CLAUSE.split(text) if c and c.strip())
    return [c for c in clauses if c]


def _stance(clause: str) -> str:
    """``"abstain"``, ``"filler"`` or ``"assert"`` for one clause."""
    if _ABSTAIN.search(clause):
        return "abstain"
    if _FILLER.match(clause):
        return "filler"
    return "assert"


_STANCE_SPLIT = re.compile(r",\s*")


def _clause_stances(clause: str) -> list[str]:
    """Stances inside one clause: comma-separated fragments before an abstaining fragment count on their own
    ("France, Germany, the rest is unknown" asserts two names); what follows it belongs to the abstention
    ("I don't know the population of Paris, France")."""
    if _stance(clause) != "abstain":
        return [_stance(clause)]
    stances = []
    for part in _STANCE_SPLIT.split(clause):
        stances.append(_stance(part))
        if stances[-1] == "abstain":
            break
    return stances


def is_abstention(text: str) -> bool:
    """Whether the reply as a whole declines to answer.

    Decided from its stance, clause by clause, not by a substring: it abstains when at least one clause declines
    ("I don’t know", "There is no information about…", "N/A", an empty reply) and no clause asserts anything
    ("Sorry." and "Please check an encyclopedia." assert nothing). So "Sydney. Its founding date is unknown."
    does NOT abstain (it asserts Sydney), nor does a list that ends "…the rest is unknown".
    """
    text = _clean(text)
    if not text:
        return True
    stances = [stance for clause in _clauses(text) for stance in _clause_stances(clause)]
    return "abstain" in stances and "assert" not in stances


# ---------------------------------------------------------------- negation (shared by claims, numbers and lists)

_NEGATED_CLAUSE = re.compile(
    r"^\W*(?:not|no\b|it\s+is\s+not|it's\s+not|it\s+isn't|that\s+is\s+not|this\s+is\s+not|neither|nor)\b"
    r"|^[^,;]*?\b(?:is|are|was|were)\s+not\s+(?:correct|right|true|accurate|the\s+(?:answer|case|one))\b"
    r"|^[^,;]*?\b(?:isn't|aren't|wasn't)\s+(?:correct|right|true|accurate|the\s+(?:answer|case|one))\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\(\s*not\s+[^)]*\)|,?\s*\b(?:(?:and|but)\s+)?(?:not|rather\s+than|instead\s+of|as\s+opposed\s+to|unlike|"
    r"replacing|succeeding)\s+(?:[^,;.]*?)(?=\s+but\b|[,;.]|$)",
    re.IGNORECASE,
)
"""A negated or replaced alternative inside a clause ("Canberra, not Sydney", "Unlike Sydney, …", "…, replacing
Auckland"): removed before the clause is read."""


def strip_citations(text: str) -> str:
    """Remove chunk citations such as ``[c2]`` or ``[c1, c3]`` (RAG answers cite what they used)."""
    return _CITATION.sub("", text or "")
