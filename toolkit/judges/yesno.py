"""Yes/no answers judged from the context alone (no yes/no gold answer).

A "Yes, ..." / "No, ..." reply makes two claims: its polarity and the clause that backs it. The clause is checked
against the context like any claim, but leniently about wording (a third of what it adds — words or numbers — in
one context sentence, with its numbers and names there and the same polarity), because a justification restates
the passage in its own words. The polarity is checked against the context sentence that carries most of the
question's key words: a negated one ("X is not on the coast") answers "no"; an affirmed one containing all key
words answers "yes". A bare "Yes." with no such sentence stays ``unknown``.
"""

import re

from toolkit.judges import text as T
from toolkit.judges.base import JudgeInput

YES_NO = re.compile(r"^\s*(yes|no|true|false|correct|incorrect)\b[\s,.;:!-]*", re.I)
BACKED_SHARE = 1 / 3


def _key(question: str) -> set[str]:
    return T.content(question) - T.names(question, initial=True) - T.GENERIC


def _backed(clause: str, units: list[str], asked: set[str], tolerance: float) -> bool:
    numbers = T.quantities(clause)
    added = {w for w in T.content(clause) - asked - T.GENERIC if not any(w.startswith(q) for q in asked if len(q) >= 4)}
    names = T.names(clause, initial=True) - asked
    negated = T.is_negated(clause)
    for unit in units:
        present = T.content(unit)
        if numbers and not all(any(T.consistent(n, q, tolerance) for q in T.quantities(unit)) for n in numbers):
            continue
        if not names <= present:
            continue
        clauses = T.claims(unit) or [unit]
        best = max(clauses, key=lambda c: len((added | asked) & T.content(c)))
        if T.is_negated(best) != negated:
            continue
        total = len(added) + len(numbers)
        if not total or (len(added & present) + len(numbers)) / total >= BACKED_SHARE:
            return True
    return False


def expected_polarity(question: str, units: list[str]) -> str | None:
    """'no' when the sentence carrying the question's key words negates them, 'yes' when it affirms all of them."""
    key = _key(question)
    if not key:
        return None
    scored = [(len(key & T.content(u)), u) for u in units]
    hits, unit = max(scored, default=(0, ""))
    if hits < max(1, len(key) / 2):
        return None
    clauses = T.claims(unit) or [unit]
    best = max(clauses, key=lambda c: len(key & T.content(c)))
    if T.is_negated(best) or T.demotes(best, question):
        return "no"
    return "yes" if hits == len(key) else None


def judge_from_context(item: JudgeInput, said: str, units: list[str], tolerance: float) -> tuple[bool | None, str]:
    """(hallucinated or None for unknown, reason) for a yes/no reply checked against the context only."""
    rest = YES_NO.sub("", T.clean(item.answer), count=1)
    asked = T.content(item.question)
    clauses = [c for c in T.claims(rest) if T.content(c) - asked - T.GENERIC or T.quantities(c)]
    bad = [c for c in clauses if not _backed(c, units, asked, tolerance)]
    if bad:
        return True, f"unsupported claim: {bad[0][:120]}"
    expected = expected_polarity(item.question, units)
    if expected is not None:
        return said != expected, f"answered {said}, the context says {expected}"
    if clauses:
        return False, f"answered {said}; the reason given is in the context"
    return None, "a bare yes/no answer the context neither confirms nor denies"
