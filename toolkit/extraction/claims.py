"""The one answer a reply commits to, read as a careful grader reads it (clause marks: ``toolkit.extraction.clauses``).

The answer is the clause the reply finally stands by: a correction replaces what came before ("Lyon. Sorry, I meant
Paris."), a present statement beats a historical one ("was the capital until 1960, when Brasília replaced it"), a
clause that repeats what the question asks about beats one about something else ("Sydney is the largest city, but the
capital is Canberra."), and negated or merely mentioned names are never the answer. A reply that offers another
candidate ("Paris. Or maybe Lyon.", "Probably Paris, possibly Lyon.") commits to none.
"""

import re
from dataclasses import dataclass

from toolkit.extraction.clauses import (
    Clause,
    asks_for_smaller,
    attribute_words,
    choice_options,
    clauses,
    content_words,
    echoes,
    question_entities,
)
from toolkit.extraction.text import _NEGATED_CLAUSE, _NEGATION, is_abstention, normalize

_HEDGE_WORDS = re.compile(
    r"^\W*(?:(?:i\s+(?:think|believe|guess|suppose)(?:\s+that)?|probably|possibly|perhaps|maybe|likely|"
    r"most\s+likely|apparently|well|so|yes|it\s+(?:is|was|would\s+be|might\s+be|may\s+be|could\s+be)|it's|"
    r"that\s+(?:is|would\s+be)|that's)\b,?|(?:final\s+)?answer\s*[:\-]|a\s*:)\s*",
    re.IGNORECASE,
)
_TRAILING_HEDGE = re.compile(
    r"(?:[,\s]+(?:i\s+(?:think|believe|guess|suppose)|probably|maybe|perhaps|possibly|i'm\s+not\s+sure))+\W*$",
    re.IGNORECASE,
)
_COPULA_LEAD = re.compile(
    r"^(?:the|its|it's|their|his|her|this|that|my|our|your)\b[^,]*?\b(?:is|are|was|were|would\s+be|remains?)\s+"
    r"(?:called\s+|named\s+|known\s+as\s+)?(?P<answer>.+)$",
    re.IGNORECASE,
)
_SUBJECT_IS_THE = re.compile(
    r"^(?P<answer>.+?)\s+(?:is|are|was|were|has\s+been|serves\s+as|became)\s+(?:the|its|their|a|an)\b", re.IGNORECASE
)
_COMPARATIVE = re.compile(
    r"^(?P<a>.+?)\s+(?:is|has|was|covers|occupies)\b(?P<gap>(?:[^.,;]|\d[.,]\d)*?)"
    r"\b(?P<cmp>larger|bigger|greater|more|higher|smaller|less|fewer|lower)\b(?:[^.]*?\bthan\s+(?P<b>[^,.;]+))?",
    re.IGNORECASE,
)
_VERBLESS_COMPARATIVE = re.compile(
    r"^(?P<a>[^,;()]+?)\s*[,(:\-\u2013\u2014]\s*(?P<gap>[^,;]*?)"
    r"\b(?P<cmp>larger|bigger|greater|more|higher|smaller|less|fewer|lower)\b[^,;]*?\bthan\s+(?P<b>[^,.;)]+)",
    re.IGNORECASE,
)
"""An option followed by a comparison without a verb ("Japan, 3.4 times larger than France"): the option is the
pick; led by the option the comparison rules out ("Japan (smaller than France)" for the larger) it picks neither."""
_BECAUSE_IT = re.compile(r"^\W*(?:because|since|as)\s+(?:it|this|that)\b", re.IGNORECASE)
"""A reason that follows the pick ("France, because it is bigger"): "it" is the option named first."""
_CHOICE = re.compile(r"\b(?:larger|bigger|greater|more|higher|smaller|less|fewer|lower|largest|biggest)\b", re.I)
"""A clause that compares: for a choice question ("Which is larger, X or Y?") it carries the claim."""
_COPULA = re.compile(
    r"^(?P<subject>.+?)\s+(?:is|are|was|were|would\s+be|remains?|serves\s+as|has\s+been|became)\s+"
    r"(?:called\s+|named\s+|known\s+as\s+)?(?P<predicate>.+)$",
    re.IGNORECASE,
)
_REPLACED = re.compile(r"^(?P<answer>.+?)\s+(?:replaced|succeeded|superseded|took\s+over)\b", re.IGNORECASE)
_MOVED = re.compile(r"\b(?:moved|relocated|transferred|changed|shifted)\b.*?\bfrom\s+.+?\s+to\s+(?P<answer>.+?)"
                    r"(?:\s+(?:in|on|around)\s+\d{4})?\W*$", re.IGNORECASE)
_RELATIVE = re.compile(r",\s*(?:which|who)\b[^,]*,\s*|,\s*(?:the|a|an)\s+[^,]{1,40},\s*", re.IGNORECASE)
"""A relative clause or appositive in the middle ("Canberra, the capital, is …"): it is not the claim."""
_TRAILING_COPULA = re.compile(r"\s+(?:is|are|was|were|does|do)\W*$", re.IGNORECASE)
_PRONOUN = re.compile(r"^(?:it|this|that|he|she|they)$", re.IGNORECASE)
_PRONOUN_COPULA = re.compile(r"^\W*(?:it|this|that)(?:\s+(?:is|was)|'s)\s+(?P<predicate>.+)$", re.IGNORECASE)
_CONCESSION = re.compile(r"^\W*(?:although|though|even\s+though|while|whereas|despite)\b[^,]*,\s*", re.IGNORECASE)
"""A leading concession ("Although Lyon and Marseille are large cities, …") is not the claim."""
_OR = re.compile(r"\b(?:or|either|and/or|possibly|perhaps|maybe)\b|/", re.IGNORECASE)
"""A claim that still names two candidates ("Sydney or Canberra", "Nairobi (possibly Mombasa)") claims neither."""


def _strip_hedges(clause: str) -> str:
    previous = None
    while previous != clause:
        previous, clause = clause, _HEDGE_WORDS.sub("", clause, count=1)
    return _TRAILING_HEDGE.sub("", clause)


def _side_not_echoing(match: re.Match, question: str) -> str | None:
    """Of "subject is predicate", the side that repeats less of the question (the answer); ``None`` on a tie.

    "The Canadian dollar is the official currency of Canada" for "What is the currency of Canada?" -> the subject;
    "The capital of France is Paris" for "What is the capital of France?" -> the predicate."""
    if not question:
        return None
    asked = content_words(question)

    def echo(side: str) -> float:
        words = content_words(side)
        return len(words & asked) / len(words) if words else 1.0

    subject, predicate = match.group("subject"), match.group("predicate")
    if echo(subject) == echo(predicate):
        return None
    return subject if echo(subject) < echo(predicate) else predicate


def _comparative(clause: str, question: str) -> str | None:
    """"X is (not) larger than Y": the one the question asks for (the larger, unless it asks for the smaller);
    without "than Y", the other option of the choice question. None when the clause does not compare. Two
    comparisons that pick different ones ("Japan is the larger population, United States is the larger
    population") pick neither: "Japan or United States"."""
    verbless = _VERBLESS_COMPARATIVE.match(clause)
    options = choice_options(question)
    if verbless and options and any(normalize(o) == normalize(_strip_hedges(verbless.group("a"))) for o in options):
        a_is_larger = verbless.group("cmp").lower() not in ("smaller", "less", "fewer", "lower")
        a, b = (_strip_hedges(verbless.group(side)).strip(" \t\"'.,;:!-") for side in ("a", "b"))
        return a if a_is_larger != asks_for_smaller(question) else f"{a} or {b}"  # led with the wrong one: no pick
    parts = re.split(r",\s+", clause)
    led = bool(options) and any(normalize(o) == normalize(_strip_hedges(parts[0])) for o in options) and any(
        _BECAUSE_IT.match(part) for part in parts[1:])
    if led:  # "France, because it is bigger": "it" is the option it led with
        parts = [parts[0], *(_BECAUSE_IT.sub(parts[0], part, count=1) for part in parts[1:])]
    picks = [pick for part in parts if (pick := _compare_one(part, question)) is not None]
    if not picks:
        return None
    if led:  # the lead is a pick too: a reason that favours the other option leaves no pick
        picks.insert(0, _strip_hedges(parts[0]).strip(" \t\"'.,;:!-"))
    distinct = [p for i, p in enumerate(picks) if not any(_same(p, q) for q in picks[:i])]
    return " or ".join(distinct) if len(distinct) > 1 else picks[0]


def _compare_one(clause: str, question: str) -> str | None:
    match = _COMPARATIVE.match(clause)
    if not match:
        return None
    a_is_larger = (match.group("cmp").lower() not in ("smaller", "less", "fewer", "lower")) != bool(
        re.search(r"\bnot\b", match.group("gap"), re.IGNORECASE))
    a, b = match.group("a"), match.group("b")
    if b is None:
        options = choice_options(question)
        others = [o for o in options or () if normalize(o) != normalize(_strip_hedges(a).strip(" \t\"'.,;:!-"))]
        b = others[0] if options and len(others) == 1 else ""
    claimed = a if a_is_larger != asks_for_smaller(question) else b
    return _strip_hedges(claimed).strip(" \t\"'.,;:!-")


def _core(clause: str, question: str = "", antecedent: str = "") -> str:
    """The answer part of one asserting clause: lead-ins, copulas and comparatives reduced to the named thing; a
    pronoun that stands for the previous clause's subject ("…; it is the highest peak") is that subject."""
    pronoun = _PRONOUN_COPULA.match(clause)
    if pronoun and antecedent and echoes(pronoun.group("predicate"), attribute_words(question)):
        return antecedent
    clause = _strip_hedges(_CONCESSION.sub("", clause)).strip(" \t,:-")
    compared = _comparative(clause, question)
    if compared is not None:
        return compared
    clause = _strip_hedges(_NEGATION.sub("", clause)).strip(" \t,:-")
    clause = _RELATIVE.sub(" ", clause)
    for pattern in (_MOVED, _REPLACED):
        if match := pattern.search(clause) if pattern is _MOVED else pattern.match(clause):
            return _strip_hedges(match.group("answer")).strip(" \t\"'.,;:!-")
    clause = _TRAILING_COPULA.sub("", clause)
    copula = _COPULA.match(clause)
    side = _side_not_echoing(copula, question) if copula else None
    if side is not None:
        clause = side
    else:
        for pattern in (_COPULA_LEAD, _SUBJECT_IS_THE):
            match = pattern.match(clause)
            if match:
                clause = match.group("answer")
                break
    return _strip_hedges(clause).strip(" \t\"'.,;:!-")


def _subject(clause: str) -> str:
    """What a clause is about ("The Zugspitze" in "The Zugspitze is not in Austria"), for a later "it"."""
    match = re.match(r"^(?P<s>.+?)\s+(?:is|are|was|were|does|do|did|has|have|lies)\b", _strip_hedges(clause), re.I)
    subject = match.group("s").strip(" \t\"'.,;:!-") if match else ""
    return "" if _PRONOUN.match(subject) else subject


@dataclass(frozen=True)
class _Candidate:
    core: str
    clause: Clause
    echoes: bool
    headed: bool
    """It follows a heading that names what the question asks for ("Currency: Swiss franc")."""
    compares: bool
    entities: frozenset[str]
    empty: bool
    """It only restates the question or itself ("The currency of Brazil is the currency of Brazil", "Kenya is the
    official currency of Kenya"): a reply of nothing else claims nothing checkable."""


def _says_nothing(clause: str, core: str, question: str) -> bool:
    if choice_options(question):
        return False  # naming an option of the question is the answer
    copula = _COPULA.match(_strip_hedges(clause).strip(" .!"))
    if copula:
        subject, predicate = content_words(copula.group("subject")), content_words(copula.group("predicate"))
        if subject and predicate and (subject <= predicate or predicate <= subject):
            return True  # a tautology
    return not content_words(core) - content_words(question) - _GENERIC


_GENERIC = frozenset({"official", "national", "main", "current", "known"})


_CHUNK_HEADER = re.compile(r"\n[ \t]*\[c\d+\][ \t]*[^\n]*?\s[\u2014\u2013-]\s")
"""A line that opens a chunk ("[c4] Peru — Geography"), copied or invented after the reply's own answer."""


def _own_answer(text: str) -> str:
    """The reply before a chunk it dumps after its answer: the answer is what it said, not what it copied."""
    match = _CHUNK_HEADER.search(text or "")
    return text[:match.start()] if match and text[:match.start()].strip() else text


def _candidates(text: str, question: str) -> list[_Candidate]:
    from toolkit.extraction.entities import entity_mentions

    attributes, found, antecedent = attribute_words(question), [], ""
    for clause in clauses(_own_answer(text)):
        if clause.question or clause.stance != "assert" or clause.mention or clause.label:
            continue
        compares = bool(_COMPARATIVE.match(_strip_hedges(clause.text)))
        if not compares and (clause.negated or _NEGATED_CLAUSE.match(clause.text)):
            antecedent = _subject(clause.text) or antecedent  # "X is not in Austria; it is …": "it" is X
            continue
        core = _core(clause.text, question, antecedent)
        if not normalize(core):
            continue
        found.append(_Candidate(core, clause, echoes(clause.text, attributes),
                                bool(clause.heading) and echoes(clause.heading, attributes), compares,
                                frozenset(entity_mentions(clause.text)), _says_nothing(clause.text, core, question)))
        antecedent = _subject(clause.text) or core
    return found


def _same(a: str, b: str) -> bool:
    a, b = normalize(a), normalize(b)
    return a == b or f" {a} " in f" {b} " or f" {b} " in f" {a} "


def _choose(found: list[_Candidate], question: str) -> _Candidate | None:
    """The candidate the reply stands by (module docstring), or None."""
    asked = question_entities(question)
    if asked and any(asked & c.entities for c in found):  # the reply names the entity asked about: others are asides
        found = [c for c in found if not c.entities or asked & c.entities]
    found = [c for c in found if not c.clause.historical] or found
    if any(c.echoes and not c.empty for c in found):  # a clause that answers beats one that restates the question
        found = [c for c in found if not c.empty]
    if not found:
        return None
    for preferred in (
        [c for c in found if c.clause.correction][-1:],
        [c for c in found if c.headed and not c.empty and not choice_options(question)][:1],
        [c for c in found if c.compares and choice_options(question)][:1],
        [c for c in found if c.echoes and not c.empty][:1],
    ):
        if preferred:
            return preferred[0]
    return found[0]


def asserts_nothing(text: str, question: str = "") -> bool:
    """The reply abstains, or every clause only restates the question or itself (a tautology such as "The head
    coach of Japan's team is the head coach of Japan's team"): it commits to no answer (a reader's "abstained")."""
    return is_abstention(text) or all(c.empty for c in _candidates(text, question))


def answer_span(text: str, question: str = "") -> str:
    """The answer part of the clause the reply stands by, hedges NOT rejected ("Either Sydney or Canberra" ->
    "Sydney or Canberra"; "Paris. Or maybe Lyon." -> "Paris or Lyon"); ``""`` when nothing is asserted. Scorers use
    it only for verbatim gold matches (a gold may itself read "Tuvaluan dollars or Australian dollars");
    ``claimed_answer`` is the extraction to score."""
    if is_abstention(text):
        return ""
    found = _candidates(text, question)
    chosen = _choose(found, question)
    if chosen is None:
        return ""
    later = found[found.index(chosen) + 1:] if chosen in found else []
    rival = next((c for c in later if c.clause.alternative and not _same(c.core, chosen.core)), None)
    if chosen.compares and choice_options(question) and not chosen.clause.correction:  # conflicting picks
        rival = rival or next((c for c in found if c.compares and not _same(c.core, chosen.core)), None)
    return f"{chosen.core} or {rival.core}" if rival else chosen.core


def claimed_answer(text: str, question: str = "") -> str:
    """The one answer a reply commits to, or ``""`` when it claims none (abstains) or hedges between candidates.

    "Not Sydney or Canberra; it is Melbourne." -> "Melbourne"; "The capital is Paris." -> "Paris"; "France is larger
    than Japan." -> "France"; "Lyon. Sorry, I meant Paris." -> "Paris"; "Either Sydney or Canberra" -> "". With the
    ``question``, the side of "X is Y" that does not repeat the question is the answer ("The Canadian dollar is the
    official currency of Canada" -> "The Canadian dollar"), a clause about the attribute asked for wins ("Sydney is
    the largest city, but the capital is Canberra." -> "Canberra"), and for a choice question ("Which is larger,
    X or Y?") the clause that compares is the claim.
    """
    core = answer_span(text, question)
    return "" if _OR.search(core) else core
