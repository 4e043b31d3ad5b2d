"""Number extraction: the one number a reply claims, with its unit and scale, or ``None`` when it claims none.

"84 million people" -> 84,000,000 (scale 1e6, unit ""/people); "~9.8M km²" -> 9,800,000 sq km; "643,801 sq km
(248,573 sq mi)" -> 643,801 sq km (the two agree once converted). A range ("between 100,000 and 400,000", "84-85
million") or two numbers of the same kind that disagree ("390,000 or 100,000") claim no single number: ``None``, so
they never match a gold number. The clause the reply stands by decides, as for a name (``toolkit.extraction.clauses``):
a correction wins, an earlier figure ("up from 1.27 billion in 2000", "was 59 million in 2001") and a part ("of
which 39,997 sq km is land") are no rival, a percentage beside a count is a share of it, and with the question, a
figure bound to another country ("Germany: 84 million; France: 68 million.") is not the one asked for.
"""

import re
from dataclasses import dataclass, field

from toolkit.extraction.clauses import clauses, question_entities
from toolkit.extraction.text import _NEGATION, _clean

_SCALES = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "mln": 1e6, "mn": 1e6,
    "billion": 1e9, "billions": 1e9, "bn": 1e9, "trillion": 1e12, "mil": 1e6,
}
_ABBREVIATED = {"M": 1e6, "B": 1e9, "K": 1e3, "m": 1e6}
"""Capital M/B/K after a number are millions, billions, thousands ("84M", "1.4B"); a small "m" only before a
count or area word ("84m people", "9.8m km²"); otherwise "m" is metres ("4,810 m")."""
_PEOPLE = r"people|persons|inhabitants|residents|citizens|population"
_UNITS = (  # (pattern, canonical unit, dimension, factor to the dimension's base unit)
    (r"sq\.?\s*km|square\s+kilomet(?:re|er)s?|km2|kilomet(?:re|er)s?\s+squared", "sq km", "area", 1.0),
    (r"sq\.?\s*mi(?:les?)?|square\s+miles?|mi2", "sq mi", "area", 2.589988),
    (r"km|kilomet(?:re|er)s?", "km", "length", 1.0),
    (r"mi|miles?", "mi", "length", 1.609344),
    (r"m|met(?:re|er)s?", "m", "length", 0.001),
    (r"ft|feet|foot", "ft", "length", 0.0003048),
    (r"%|percent|per\s*cent", "%", "percent", 1.0),
    (r"years?|yrs?", "years", "years", 1.0),
    (_PEOPLE, "people", "count", 1.0),
)
_UNIT_INFO = {unit: (dimension, factor) for _, unit, dimension, factor in _UNITS}
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<cur>\$|us\$|usd\s*)?(?P<sign>-)?"
    r"(?P<num>\d{1,3}(?:[,\u00a0\u2009\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    rf"(?:\s*(?P<scale>{'|'.join(sorted(_SCALES, key=len, reverse=True))}|(?-i:[MBK])"
    rf"|(?-i:m)(?=\s*(?:{_PEOPLE}|sq\b|square|km)))(?![a-z]))?"
    rf"(?:\s*(?P<unit>{'|'.join(f'(?:{p})' for p, *_ in _UNITS)})(?![a-z]))?(?!\w)",
    re.IGNORECASE,
)
_ANY = r"\$?\d[\d,.]*(?:\s*[a-z%]+)?"
_RANGE = re.compile(
    rf"\bbetween\s+{_ANY}\s+and\s+\$?\d|\bfrom\s+{_ANY}\s+to\s+\$?\d|\d\s*(?:-|to|–)\s*\$?\d", re.IGNORECASE
)
_YEAR_SPAN = re.compile(r"(?<![\d,.])(?:18|19|20)\d\d\s*(?:-|to|–)\s*(?:(?:18|19|20)\d\d|\d\d)(?![\d,])")
"""A span of years ("2020-2021", "2019-20") dates a figure; it is not a range of values."""
_EARLIER = re.compile(
    r"\b(?:up|down)\s+from\b|\bcompared\s+(?:with|to)\b|\bversus\b|\bvs\b\.?|\bof\s+which\b|\bincluding\b|"
    r"\bexcluding\b|\bthan\s+(?:in|at|during|the)\b",
    re.IGNORECASE,
)
"""What follows is an earlier figure or a part of the claimed one, not a rival claim."""
_YEAR_CONTEXT = re.compile(r"\b(?:in|since|from|until|till|by|year|circa|c\.|around|of)\s*$", re.IGNORECASE)
AGREEMENT = 0.01
"""Two numbers in one reply are the same claim when they agree within 1% (rounding, a converted unit)."""


@dataclass(frozen=True)
class Quantity:
    """One claimed number: ``value`` has the scale applied ("1.2 million" -> 1_200_000.0, ``scale`` 1e6)."""

    value: float
    unit: str = ""
    scale: float = 1.0
    raw: str = ""
    dated: bool = field(default=False, compare=False, repr=False)
    """Preceded by a word that introduces a year ("in", "since", "until"…)."""
    counts: str = field(default="", compare=False, repr=False)
    """The plural noun a unitless number counts, when it is not people ("16 states")."""
    start: int = field(default=-1, compare=False, repr=False)

    @property
    def dimension(self) -> str:
        """"area", "length", "percent", "years", "count" (plain counts and people), or "usd"."""
        return _UNIT_INFO.get(self.unit, ("count", 1.0))[0] if self.unit != "usd" else "usd"

    def in_base_unit(self) -> float:
        """The value in its dimension's base unit (sq km, km), so "248,573 sq mi" compares with "643,801 sq km"."""
        return self.value * _UNIT_INFO.get(self.unit, ("", 1.0))[1]


def units_compatible(a: str, b: str) -> bool:
    """Units name the same kind of quantity, or one is left out ("643,801" answers "643,801 sq km")."""
    if not a or not b:
        return True
    qa, qb = Quantity(0.0, a), Quantity(0.0, b)
    return qa.dimension == qb.dimension


def numbers_close(a: float, b: float, tolerance: float) -> bool:
    """``a`` lies within relative ``tolerance`` of ``b`` (exact, up to float noise, when the tolerance is 0)."""
    return abs(a - b) <= max(tolerance * abs(b), 1e-9)


def _same_claim(a: Quantity, b: Quantity) -> bool:
    if a.unit and b.unit and a.dimension != "count":
        return numbers_close(b.in_base_unit(), a.in_base_unit(), AGREEMENT)
    return numbers_close(b.value, a.value, AGREEMENT)


def quantities(text: str) -> list[Quantity]:
    """Every number ``text`` mentions, in order (judges check each against a context; scorers want the one
    claimed number, ``extract_number``)."""
    return _quantities(_clean(text))


_COUNTED = re.compile(r"\s+(?P<noun>[a-z]+s)\b")


def _quantities(text: str) -> list[Quantity]:
    found = []
    for match in _NUMBER.finditer(text):
        digits = re.sub(r"[,\u00a0\u2009\u202f]", "", match.group("num"))
        spoken = match.group("scale") or ""
        scale = _ABBREVIATED.get(spoken) or _SCALES.get(spoken.lower(), 1.0)
        unit = "usd" if match.group("cur") else ""
        if match.group("unit"):
            said = match.group("unit").lower()
            unit = next(u for p, u, *_ in _UNITS if re.fullmatch(p, said, re.IGNORECASE))
        value = float(digits) * scale * (-1 if match.group("sign") else 1)
        dated = bool(_YEAR_CONTEXT.search(text[: match.start()]))
        counted = _COUNTED.match(text, match.end()) if not unit else None
        found.append(Quantity(value=value, unit=unit, scale=scale, raw=match.group(0).strip(), dated=dated,
                              counts=counted.group("noun") if counted else "", start=match.start()))
    return found


def _is_year(q: Quantity) -> bool:
    """A plain four-digit integer read as a year: after "in", "since"… ("decided in 1793"), or 1800-2100."""
    plain = q.scale == 1.0 and not q.unit and q.value.is_integer() and "," not in q.raw and 1000 <= q.value <= 2100
    return plain and (q.dated or q.value >= 1800)


def _bound(text: str, quantity: Quantity, spans: list[tuple[int, str]], carried: str | None) -> str | None:
    """The country a figure belongs to: the one named last before it in its clause, else the first after it, else
    the subject carried over from an earlier clause ("Germany: 84 million")."""
    before = [entity for start, entity in spans if start < quantity.start]
    after = [entity for start, entity in spans if start > quantity.start]
    return before[-1] if before else after[0] if after else carried


_PART = re.compile(r"^\W*(?:land|water|note|male|female|urban|rural|comparative)\W*$", re.IGNORECASE)
"""Labels of a part of the figure asked for, as Factbook text gives them after the total ("- land: …")."""


def _without_cut_repeat(text: str) -> str:
    """The reply without a last line that repeats the start of an earlier one: a reply cut off at the token limit
    while repeating itself ("- population: 1,419,316,933 (2025 est.)" … "- population: 1") adds no figure."""
    lines = text.rstrip().splitlines()
    if len(lines) > 1 and any(line.startswith(lines[-1]) and line != lines[-1] for line in lines[:-1]):
        lines = lines[:-1]
    return "\n".join(lines)


def _claimed(text: str, question: str) -> list[Quantity]:
    """The figures of the clauses the reply stands by (module docstring), in order."""
    from toolkit.extraction.entities import entity_spans

    asked, carried, found, part = question_entities(question), None, [], False
    for clause in clauses(_without_cut_repeat(text)):
        if clause.mention or part:  # "- land: 995,450 sq km" under "- total: 1,001,450 sq km" is a part
            part = clause.label and bool(_PART.match(clause.text))
            continue
        part = clause.label and bool(_PART.match(clause.text))
        body = _NEGATION.sub("", _EARLIER.split(clause.text, maxsplit=1)[0])
        spans = entity_spans(body)
        for quantity in _quantities(body):
            entity = _bound(body, quantity, spans, carried)
            if not (asked and entity and entity not in asked):
                found.append((quantity, clause))
        carried = spans[0][1] if spans else carried
    found = [f for f in found if not f[1].historical] or found
    corrected = [f for f in found if f[1].correction]
    if corrected:
        found = [f for f in corrected if f[1] is corrected[-1][1]]
    return [quantity for quantity, _ in found]


def extract_number(text: str, question: str = "") -> Quantity | None:
    """The one number ``text`` claims, or ``None``.

    Negated numbers ("not 500,000"), years next to other numbers ("84 million (2024 est.)"), earlier figures and
    parts are ignored; a percentage or a count of something else ("16 states") gives way to a figure of the thing
    itself. The first remaining number decides what kind of quantity is claimed; every other number of that kind
    must agree with it within 1% (after unit conversion), else the reply claims no single number. A range claims
    none either. With the ``question``, figures bound to a country it does not ask about are left out.
    """
    text = _clean(text)
    if _RANGE.search(_YEAR_SPAN.sub(" ", _NEGATION.sub("", text))):
        return None
    candidates = _claimed(text, question)
    for plainer in (lambda q: not _is_year(q), lambda q: q.dimension != "percent", lambda q: not q.counts):
        if len(candidates) > 1:
            candidates = [q for q in candidates if plainer(q)] or candidates[:1]
    if not candidates:
        return None
    first = candidates[0]
    rivals = [q for q in candidates[1:] if q.dimension == first.dimension]
    return first if all(_same_claim(first, q) for q in rivals) else None


def extract_range(text: str) -> tuple[Quantity, Quantity] | None:
    """The two ends of the range a reply gives ("between 80 and 85 million" -> 80 million, 85 million: an end
    without its own scale or unit takes the other's), or ``None`` when it gives no range. A reader counts a range
    as correct only when both ends are (``rag_corpus/real_answers/GUIDELINES.md``)."""
    text = _NEGATION.sub("", _clean(text))
    match = _RANGE.search(_YEAR_SPAN.sub(lambda m: " " * len(m.group(0)), text))
    if not match:
        return None
    ends = [q for q in _quantities(text) if q.start < match.end() and q.start + len(q.raw) > match.start()][:2]
    if len(ends) != 2:
        return None
    low, high = ends
    if low.scale == 1.0 and not low.unit and (high.scale != 1.0 or high.unit):
        low = Quantity(value=low.value * high.scale, unit=high.unit, scale=high.scale, raw=low.raw, start=low.start)
    return low, high
