"""A reply read clause by clause, the way a careful grader reads it: which clause states the answer it stands by.

Longer replies correct themselves ("Lyon. Sorry, I meant Paris."), recall history ("Rio was the capital until 1960,
when Brasília replaced it."), mention what the answer is not ("Canberra is often mistaken for the capital; it is
actually Sydney.") or offer alternatives ("Paris. Or maybe Lyon."). ``clauses`` splits a reply and marks each clause
with what it does; ``toolkit.extraction.claims`` and ``numbers`` pick the answer from the marks:

- ``correction``: it replaces what came before ("actually", "sorry, I meant", "no wait", "Answer:", "so …");
- ``historical``: it states a past state ("was … until 1990", "used to be", "before 1868 it was");
- ``mention``: it reports a belief, not the answer ("often mistaken for", "people think", "a misconception");
- ``negated``: its verb is negated ("Sydney is not the capital", "Japan does not use the yuan");
- ``alternative``: it offers another candidate ("or maybe", "possibly", "it might be");
- ``label``: it heads what follows a colon ("The capital of Estonia: Tallinn."); the clause after it keeps it as its
  ``heading`` ("- Currency: Swiss franc (CHF)"), and one under a "note:" heading is an aside (``mention``).

Question helpers: the question's attribute words ("capital" in "What is the capital of France?"), the entities it
names, and the two options of a choice question ("Which is larger, France or Japan?").
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from toolkit.extraction.text import _LEAD_PHRASE, _clean, _stance, fold, normalize

_SPLIT = re.compile(
    r"(?<=[.!?])(?<!\b[A-Za-z]\.)\s+(?-i:(?![a-z]))|\n+|;\s*|:\s+|\s+[-\u2013\u2014]\s+(?=(?:no|wait|actually|sorry)\b)"
    r"|,?\s+\bbut\b\s+|,\s*(?:however|although|though|while|whereas|when|so|therefore|thus|hence)\b,?\s*"
    r"|,?\s+and\s+(?=(?:the|its|it|it's|is|are|has|have|now|today)\b)|\s+so\s+(?=(?:the|it|its|it's)\b)",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(r"(?:^|[,\s])(?:so|therefore|thus|hence)[,\s]*$", re.IGNORECASE)
_MARKERS = re.compile(
    r"^\W*(?:no(?:pe)?|wait|sorry|oops|hmm+|actually|correction|in\s+fact|rather|i\s+mean[t]?|"
    r"on\s+second\s+thought|scratch\s+that|make\s+(?:that|it)|let\s+me\s+correct\s+(?:that|myself)|"
    r"(?:my\s+)?(?:final\s+)?answer(?:\s+is)?|to\s+(?:sum\s+up|conclude)|in\s+(?:short|summary|conclusion)|"
    r"so|therefore|thus|hence)\b[\s,:;.!\-\u2013\u2014]*",
    re.IGNORECASE,
)
"""Words that announce a correction or the final answer; stripped before the clause is read."""
_CORRECTION_INSIDE = re.compile(r"\b(?:actually|in\s+fact|rather|instead)\b", re.IGNORECASE)
_HISTORICAL = re.compile(
    r"\b(?:was|were|had\s+been|used\s+to|formerly|previously|originally|former|until|till|prior\s+to|"
    r"before\s+(?:\d{4}|that|then|this)|in\s+the\s+past|no\s+longer|once\s+was)\b",
    re.IGNORECASE,
)
_MENTION = re.compile(
    r"\b(?:mistaken(?:ly)?|confused|misconception|wrongly|incorrectly|often\s+(?:thought|assumed|believed|said|"
    r"called|considered|cited)|commonly\s+(?:thought|assumed|believed|mistaken|said)|is\s+thought\s+to|"
    r"(?:many|some)\s+people|people\s+(?:often\s+)?(?:think|assume|believe|say))\b",
    re.IGNORECASE,
)
_NOTE = re.compile(r"^\W*(?:notes?|n\.?b\.?|comments?|aside)\W*$", re.IGNORECASE)
"""A "note:" heading: what follows is an aside ("- note: currency in US dollars"), not the answer."""
_NOT_BUT = re.compile(r"\bnot\s+[^,;.]*?\s+but\s+", re.IGNORECASE)
_VERB_NEGATION = re.compile(
    r"\b(?:is|are|was|were|does|do|did|has|have|can|could)\s*(?:not|n't)\b|\b(?:isn't|aren't|wasn't|weren't|doesn't|"
    r"don't|didn't|hasn't|haven't|can't|cannot)\b|\bnever\b",
    re.IGNORECASE,
)
_ALTERNATIVE = re.compile(
    r"^\W*(?:or|alternatively|otherwise|possibly|perhaps|maybe)\b|\b(?:might|could|may)\s+(?:also\s+)?be\b"
    r"|\balso\s+possible\b",
    re.IGNORECASE,
)
_QUESTION_WORDS = frozenset(
    "a an the of in on at to for by is are was were what which who whom whose how many much does do did its it "
    "this that has have answer correct final one result country countries".split()
)
"""Words that say nothing about which side of "X is Y" is the answer ("The answer is France": the predicate)."""


@dataclass(frozen=True)
class Clause:
    """One clause of a reply (lead-ins and correction markers stripped) and what it does."""

    text: str
    stance: str
    question: bool = False
    correction: bool = False
    historical: bool = False
    mention: bool = False
    negated: bool = False
    alternative: bool = False
    label: bool = False
    """It heads what follows a colon ("The capital of Estonia: Tallinn."): the answer is after it."""
    heading: str = ""
    """The label this clause follows ("Currency" in "- Currency: Swiss franc (CHF)")."""


def clauses(text: str) -> list[Clause]:
    """The reply's clauses in order, each with its marks (see the module docstring)."""
    found, carry, heading = [], False, ""
    for concludes, raw, label in _split_keep_separators(_clean(text)):
        body = _LEAD_PHRASE.sub("", raw.strip())
        marked = False
        while (marker := _MARKERS.match(body)) and marker.group(0):
            body, marked = body[marker.end():], True
        body = body.strip()
        correction = carry or concludes or marked
        if not normalize(body):  # "Actually, no:" or "Answer:" alone: the next clause is the corrected answer
            carry = correction
            continue
        carry = False
        found.append(Clause(
            text=body,
            stance=_stance(body),
            question=raw.rstrip().endswith("?"),
            correction=correction or bool(_CORRECTION_INSIDE.search(body)),
            historical=bool(_HISTORICAL.search(body)),
            mention=bool(_MENTION.search(body)) or bool(_NOTE.match(heading)),
            negated=bool(_VERB_NEGATION.search(_NOT_BUT.sub("", body))),
            alternative=bool(_ALTERNATIVE.search(body)),
            label=label,
            heading=heading,
        ))
        heading = body if label else ""
    return found


def _split_keep_separators(text: str) -> list[tuple[bool, str, bool]]:
    """(follows a conclusion separator such as ", so"; piece; ends in a colon) for every piece of ``text``."""
    out, start, conclusion = [], 0, False
    for match in _SPLIT.finditer(text):
        out.append((conclusion, text[start:match.start()], match.group(0).startswith(":")))
        conclusion = bool(_CONCLUSION.search(match.group(0)))
        start = match.end()
    out.append((conclusion, text[start:], False))
    return [(c, p, label) for c, p, label in out if p.strip()]


# ---------------------------------------------------------------- the question's side


def _stem(word: str) -> str:
    """A crude stem that keeps "currency" and "currencies" together and "current" apart."""
    return (re.sub(r"(?:es|s)$", "", word) if len(word) > 4 else word)[:7]


def attribute_words(question: str) -> frozenset[str]:
    """Stems of what the question asks about, not whom: "capital" in "What is the capital of France?" (names,
    capitalised words, are left out: they say which entity, not which attribute)."""
    words = re.findall(r"[\w'-]+", fold(question or ""))
    keep = {normalize(w) for i, w in enumerate(words) if not (i and w[:1].isupper())}
    return frozenset(_stem(w) for w in keep if w and w not in _QUESTION_WORDS)


def echoes(text: str, attributes: frozenset[str]) -> bool:
    """The text repeats one of the question's attribute words ("the capital is Canberra")."""
    return bool(attributes) and any(_stem(w) in attributes for w in normalize(text).split())


_POSSESSIVE = re.compile(r"['\u2019]s\b")


def content_words(text: str) -> set[str]:
    """Words that carry content ("Japan's national team" -> japan, national, team)."""
    return {word for word in normalize(_POSSESSIVE.sub("", fold(text))).split() if word not in _QUESTION_WORDS}


@lru_cache(maxsize=4096)
def question_entities(question: str) -> frozenset[str]:
    """The Factbook entities a question names ("Germany" in "What is the population of Germany?")."""
    from toolkit.extraction.entities import entity_mentions

    return frozenset(entity_mentions(question or ""))


_CHOICE_OPTIONS = re.compile(r",\s*(?P<a>[^,?]+?)\s+or\s+(?P<b>[^,?]+?)\s*\?*\s*$", re.IGNORECASE)
_SMALLER = re.compile(r"\b(?:smaller|smallest|less|least|fewer|fewest|lower|lowest)\b", re.IGNORECASE)


def choice_options(question: str) -> tuple[str, str] | None:
    """The two options of a choice question ("Which is larger by area, France or Japan?"), else None."""
    match = _CHOICE_OPTIONS.search(question or "")
    return (match.group("a").strip(), match.group("b").strip()) if match else None


def asks_for_smaller(question: str) -> bool:
    return bool(_SMALLER.search(question or ""))
