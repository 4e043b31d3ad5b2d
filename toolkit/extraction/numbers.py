"""Number extraction: the one number a reply claims, with its unit and scale, or ``None`` when it claims none.

"84 million people" -> 84,000,000 (scale 1e6, unit ""/people); "643,801 sq km (248,573 sq mi)" -> 643,801 sq km
(the two agree once converted). A range ("between 100,000 and 400,000", "84-85 million") or two numbers of the same
kind that disagree ("390,000 or 100,000") claim no single number: ``None``, so they never match a gold number.
"""

import re
from dataclasses import dataclass, field

from toolkit.extraction.text import _NEGATION, _clean

_SCALES = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "mln": 1e6, "mn": 1e6,
    "billion": 1e9, "billions": 1e9, "bn": 1e9, "trillion": 1e12,
}
_UNITS = (  # (pattern, canonical unit, dimension, factor to the dimension's base unit)
    (r"sq\.?\s*km|square\s+kilomet(?:re|er)s?|km2|kilomet(?:re|er)s?\s+squared", "sq km", "area", 1.0),
    (r"sq\.?\s*mi(?:les?)?|square\s+miles?|mi2", "sq mi", "area", 2.589988),
    (r"km|kilomet(?:re|er)s?", "km", "length", 1.0),
    (r"mi|miles?", "mi", "length", 1.609344),
    (r"m|met(?:re|er)s?", "m", "length", 0.001),
    (r"ft|feet|foot", "ft", "length", 0.0003048),
    (r"%|percent|per\s*cent", "%", "percent", 1.0),
    (r"years?|yrs?", "years", "years", 1.0),
    (r"people|persons|inhabitants|residents|citizens|population", "people", "count", 1.0),
)
_UNIT_INFO = {unit: (dimension, factor) for _, unit, dimension, factor in _UNITS}
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<cur>\$|us\$|usd\s*)?(?P<sign>-)?"
    r"(?P<num>\d{1,3}(?:[,\u00a0\u2009\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    rf"(?:\s*(?P<scale>{'|'.join(sorted(_SCALES, key=len, reverse=True))})(?![a-z]))?"
    rf"(?:\s*(?P<unit>{'|'.join(f'(?:{p})' for p, *_ in _UNITS)})(?![a-z]))?(?!\w)",
    re.IGNORECASE,
)
_ANY = r"\$?\d[\d,.]*(?:\s*[a-z%]+)?"
_RANGE = re.compile(
    rf"\bbetween\s+{_ANY}\s+and\s+\$?\d|\bfrom\s+{_ANY}\s+to\s+\$?\d|\d\s*(?:-|to|–)\s*\$?\d", re.IGNORECASE
)
_YEAR_SPAN = re.compile(r"(?<![\d,.])(?:18|19|20)\d\d\s*(?:-|to|–)\s*(?:(?:18|19|20)\d\d|\d\d)(?![\d,])")
"""A span of years ("2020-2021", "2019-20") dates a figure; it is not a range of values."""
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
    text = _clean(text)
    found = []
    for match in _NUMBER.finditer(text):
        digits = re.sub(r"[,\u00a0\u2009\u202f]", "", match.group("num"))
        scale_word = (match.group("scale") or "").lower()
        scale = _SCALES.get(scale_word, 1.0)
        unit = "usd" if match.group("cur") else ""
        if match.group("unit"):
            spoken = match.group("unit").lower()
            unit = next(u for p, u, *_ in _UNITS if re.fullmatch(p, spoken, re.IGNORECASE))
        value = float(digits) * scale * (-1 if match.group("sign") else 1)
        dated = bool(_YEAR_CONTEXT.search(text[: match.start()]))
        found.append(Quantity(value=value, unit=unit, scale=scale, raw=match.group(0).strip(), dated=dated))
    return found


def _is_year(q: Quantity) -> bool:
    """A plain four-digit integer read as a year: after "in", "since"… ("decided in 1793"), or 1800-2100."""
    plain = q.scale == 1.0 and not q.unit and q.value.is_integer() and "," not in q.raw and 1000 <= q.value <= 2100
    return plain and (q.dated or q.value >= 1800)


def extract_number(text: str) -> Quantity | None:
    """The one number ``text`` claims, or ``None``.

    Negated numbers ("not 500,000") and years next to other numbers ("84 million (2024 est.)") are ignored. The
    first number decides what kind of quantity is claimed; every other number of that kind must agree with it
    within 1% (after unit conversion), else the reply claims no single number. A range claims none either.
    """
    text = _NEGATION.sub("", _clean(text))
    if _RANGE.search(_YEAR_SPAN.sub(" ", text)):
        return None
    candidates = quantities(text)
    if len(candidates) > 1:
        candidates = [q for q in candidates if not _is_year(q)] or candidates[:1]
    if not candidates:
        return None
    first = candidates[0]
    rivals = [q for q in candidates[1:] if units_compatible(first.unit, q.unit)]
    return first if all(_same_claim(first, q) for q in rivals) else None
