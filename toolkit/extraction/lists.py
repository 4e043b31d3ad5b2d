"""List extraction: the entities a list reply names, compound names kept whole by a gazetteer (never by gold)."""

import json
import re
from collections.abc import Iterable
from functools import lru_cache

from toolkit.extraction.text import _NEGATED_CLAUSE, _NEGATION, _clean, fold, is_abstention, normalize

_MARKER = re.compile(r"^\s*(?:[-*•·#]+|\(?\d{1,3}[.):]|\(?[a-z][.)](?=\s)|q\d*[.:)])\s*", re.IGNORECASE)
_ANSWER_LEAD = re.compile(r"^\s*(?:final\s+)?(?:answer|response|a)\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_LEAD_IN = re.compile(
    r"^.*\b(?:are|is|include|includes|including|borders?|bordered\s+by|neighbou?rs)\s+(?=\S)", re.IGNORECASE
)
_NONE_ITEMS = {"none", "n/a", "na", "no", "nothing", "unknown", "no answer", "etc", "others", "and others"}
_MAX_ITEM_WORDS = 8
_ASIDE = re.compile(r"\s*\((?:\s*not\s+[^)]*|[^)]*\d[^)]*)\)", re.IGNORECASE)
"""Parenthetical asides dropped before splitting: "Italy (not Spain)", "Spain (1,214 km)"."""
_SEPARATOR = re.compile(r"\s*(?:,(?!\d{3}\b)|;)\s*|\s+(?:and|&)\s+|\s+or\s+", re.IGNORECASE)


@lru_cache(maxsize=16)
def _compound_names(names: frozenset[str]) -> re.Pattern | None:
    """One pattern for the names that contain a list separator ("Bosnia and Herzegovina"), longest first;
    compiled once per gazetteer (the Factbook one has ~1,000 names)."""
    compound = sorted({fold(n) for n in names if _SEPARATOR.search(n)}, key=len, reverse=True)
    if not compound:
        return None
    return re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in compound), re.IGNORECASE)


def _protect(line: str, pattern: re.Pattern | None) -> str:
    """Hide the separators inside compound names so the split keeps them whole (``_restore`` undoes it)."""
    if pattern is None:
        return line
    return pattern.sub(lambda m: m.group(0).replace(",", "\x01").replace(";", "\x02").replace(" ", "\x00"), line)


def _restore(piece: str) -> str:
    return piece.replace("\x00", " ").replace("\x01", ",").replace("\x02", ";")


def json_array(text: str) -> list | None:
    """The first JSON array of plain values in ``text`` (models often answer a list as JSON), else None."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(x, str | int | float) for x in value) else None


_SENTENCE = re.compile(r"(?<=[a-z)\]])[.!?]\s+(?=[A-Z(])")
_INLINE_NUMBER = re.compile(r"(?:^|\s)\(?\d{1,2}[.)]\s+")
_BULLET_TAIL = re.compile(r"\s+[-\u2013\u2014]\s+.*$|:\s+.*$")
"""A bullet's description after its name ("1. Pakistan - shares a 3,323 km border")."""
_DENIAL = re.compile(
    r"(?<!\bi\s)\b(?:does|do|did|is|are|was|were|has|have|can)\s*(?:not|n't)\b|\b(?:doesn't|don't|isn't|aren't)\b"
    r"|\bnever\b|\bshares?\s+no\b|\bno\s+(?:land\s+)?(?:border|borders|boundary)\b",
    re.IGNORECASE,
)
"""A sentence that denies ("It does not border Portugal.", "Cuba … do not share a land border"): no item."""
_COUNT_STATEMENT = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|many)\s+(?:\w+\s+)?"
    r"(?:countries|neighbou?rs|nations|states|borders)\b",
    re.IGNORECASE,
)
_NOT_A_NAME = re.compile(
    r"^(?:it|its|it's|which|that|this|these|those|there|they|with|to|in|on|at|from|also|both|all|each|some|the\s+rest)"
    r"\b|\b(?:is|are|was|were|has|have|had|lies|shares?|borders?|located|landlocked)\b",
    re.IGNORECASE,
)
"""A piece that reads as prose, not as a name ("to the north", "it is landlocked")."""


def _clean_item(item: str) -> str:
    item = _MARKER.sub("", item).strip()
    if len(item.split()) > _MAX_ITEM_WORDS or _NEGATED_CLAUSE.match(item) or is_abstention(item):
        return ""  # a sentence, a negated name ("not Italy"), or "the rest is unknown"
    if _COUNT_STATEMENT.search(item):
        return ""  # "India has six neighbours"
    item = _LEAD_IN.sub("", item)  # "the countries bordering Peru are Chile" -> "Chile"
    item = re.sub(r"^(?:and|or)\s+", "", item, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", item.strip(" \t\"'`*_.;:!?"))


def _as_entities(item: str) -> list[str]:
    """A piece read against the Factbook: a known name stays as written; otherwise the countries it names
    ("Pakistan to the west" -> Pakistan, "Burma/Myanmar" -> Burma); otherwise the piece itself if it reads as a
    name ("Atlantis": a wrong item still counts), nothing if it reads as prose ("to the north")."""
    from toolkit.extraction.entities import canonical, entity_mentions

    if canonical(item):
        return [item]
    named = list(dict.fromkeys(entity_mentions(item)))
    if named:
        return named
    return [] if _NOT_A_NAME.search(item) or len(item.split()) > 4 or not item[:1].isupper() else [item]


def _lines(text: str) -> list[str]:
    """The reply's lines and sentences, headers and denials dropped, bullet descriptions cut off."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        lines = [line for line in lines if not line.rstrip().endswith(":")]  # headers: "Here are the countries:"
    elif len(lines) == 1 and ":" in lines[0]:
        lines = [lines[0].split(":", 1)[1]]  # "The countries are: A, B"
    out = []
    for line in lines:
        if _MARKER.match(line):
            line = _BULLET_TAIL.sub("", _MARKER.sub("", line, count=1))
        for sentence in _SENTENCE.split(line):
            if not _DENIAL.search(sentence):
                out += [p for p in _INLINE_NUMBER.split(sentence) if p.strip()]
    return out


def list_items(text: str, gazetteer: Iterable[str] | None = None) -> list[str]:
    """The entities a list reply names: JSON arrays, bullets, numbered lines, commas, semicolons, "and", "or", prose.

    Names in ``gazetteer`` that contain a separator ("Bosnia and Herzegovina", "Saint Helena, Ascension, and
    Tristan da Cunha") are kept whole; ``None`` means the Factbook gazetteer (``toolkit.extraction.entities``), pass
    ``()`` for none. Gold answers are never used for this. A lead-in ("The countries are: …"), citations, negated
    items and sentences that deny ("It does not border Portugal."), abstaining fragments and case-insensitive
    duplicates are dropped; an abstaining reply yields ``[]``. With the Factbook gazetteer, pieces are also read
    as entities: directions and descriptions fall away ("Pakistan to the west" -> "Pakistan"), prose that names
    no country is no item, and aliases of one entity are one item ("Czechia, Czech Republic" -> "Czechia").
    """
    from toolkit.extraction.entities import canonical
    from toolkit.extraction.entities import gazetteer as factbook_gazetteer

    factbook = gazetteer is None or gazetteer is factbook_gazetteer()
    gazetteer = factbook_gazetteer() if gazetteer is None else gazetteer
    text = _clean(text)
    if not text or is_abstention(text):
        return []
    compound = _compound_names(gazetteer if isinstance(gazetteer, frozenset) else frozenset(gazetteer))
    array = json_array(text)
    if array is not None:
        pieces = [_ASIDE.sub("", str(x)) for x in array]
    else:
        pieces = []
        for line in _lines(text):
            line = _NEGATION.sub("", _ASIDE.sub("", _ANSWER_LEAD.sub("", line))).replace(" & ", " and ").rstrip(" .")
            line = _protect(line, compound)
            pieces += [_restore(p) for p in _SEPARATOR.split(line)]
    items, seen = [], set()
    for piece in pieces:
        item = _clean_item(piece)
        for name in _as_entities(item) if factbook and item else [item]:
            key = (canonical(name) if factbook else None) or normalize(name)
            if not key or key in seen or normalize(name) in _NONE_ITEMS:
                continue
            seen.add(key)
            items.append(name)
    return items
