"""Is the answer's entity or number bound to what the question asks, in the passage?

Presence is not support: a passage about a film names its director and its star, a town's 2010 and 2020
populations, a bridge's length and its main span. The answer is backed only by a context clause that holds its
names or numbers *together with* the question's key words (its predicate and attributes: "directed", "main span",
"population") and, when the question names a year, that year rather than another one. The clause is the piece of
a sentence between commas, semicolons and "and its/the ..." joins, read with the heading the sentence sits under.
"""

import re

from toolkit.judges import text as T

_JOIN = re.compile(r";\s*|,(?!\d{3})\s*|\s+(?:and|but|while|whereas)\s+(?=(?:its|their|his|her|the|it|was|were|is|built|opened"
                   r"|designed|led|served)\b)", re.I)
_ASKED_FORM = frozenset("year date time day month century decade".split())
"""Words that say what form the answer takes ("In which year ..."), not what it is about."""
_HEADING = re.compile(r"^([^:.]{1,60}):\s")


_YEAR = re.compile(r"(?<![\d,.])(1[0-9]{3}|20[0-9]{2})(?![\d,]|\.\d)")


def _years(text: str) -> set[float]:
    """Four-digit years as written ("in 2020"; not "2,020")."""
    return {float(y) for y in _YEAR.findall(T.clean(text))}


def _matches(word: str, present: set[str]) -> bool:
    """A key word is there itself or as another form of it ("open"/"opened", "designed"/"designer")."""
    return any(p == word or (min(len(p), len(word)) >= 4 and (p.startswith(word) or word.startswith(p)))
               or (min(len(p), len(word)) >= 6 and p[:5] == word[:5]) for p in present)


_PREDICATE = re.compile(r"(?:ed|led|built|wrote|written|won|made|ran|founded|sang|painted|drew|took|gave|held)$")


def clause_bound(unit: str, claim: str, names: set[str], numbers: list, key: set[str], question: str,
                 tolerance: float) -> bool:
    """Whether ``unit`` binds the claim's names/numbers to the question's key words and year (see module doc).

    A name must sit with the question's predicate ("directed", "commissioned"); a number with at least half of
    the question's attribute words, and no rival clause of the sentence holding more of them. A key word in a clause holding a rival (another name, another number) belongs to the rival; one in a
    clause without a rival belongs to the whole sentence ("The current building ..., and opened in 1961")."""
    heading = _HEADING.match(unit)
    head = heading.group(1) if heading else ""
    body = unit[heading.end():] if heading else unit
    clauses = [c for c in _JOIN.split(body) if c and c.strip()] or [body]
    asked_names = T.names(question, initial=True)
    needed = key - _ASKED_FORM if numbers else {w for w in key if _PREDICATE.search(w)}

    def holds(clause: str) -> bool:
        present = T.content(clause)
        return names <= present and all(
            any(T.consistent(n, q, tolerance) for q in T.quantities(clause)) for n in numbers)

    def rival(clause: str) -> bool:
        if numbers:
            return any(not any(T.consistent(n, q, tolerance) for n in numbers) for q in T.quantities(clause))
        return bool(T.names(clause, initial=True) - asked_names - names)

    anchors = [c for c in clauses if holds(c)]
    if not anchors:
        return True  # names and numbers spread over clauses: no clause to bind, the sentence-level rules decide
    free = " ".join(c for c in clauses if not holds(c) and not rival(c))
    rivals = [c for c in clauses if not holds(c) and rival(c)]
    asked_years = _years(question) - _years(claim)
    for clause in anchors:
        present = T.content(f"{head} {clause} {free}")
        if needed and not numbers and not all(_matches(w, present) for w in needed):
            continue
        hits = sum(_matches(w, present) for w in needed)
        if needed and numbers and (hits < len(needed) / 2 or any(
                sum(_matches(w, T.content(r)) for w in needed) > hits for r in rivals)):
            continue
        clause_years = _years(clause) - {n.value for n in numbers}
        if asked_years and clause_years and not asked_years & clause_years:
            continue
        if asked_years and not clause_years and _years(body) - {n.value for n in numbers} - asked_years:
            continue  # the sentence dates this figure with another year
        return True
    return False
